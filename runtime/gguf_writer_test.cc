#include "runtime/gguf_writer.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf_reader.h"

namespace sov {
namespace {

using ::testing::HasSubstr;

// The 256-byte file of gguf.md §8, a dump of ggml's own writer (hex of the
// spec's annotated table).
std::string Section8Bytes() {
  const char* hex =
      "4747554603000000010000000000000003000000000000001400000000000000"
      "67656e6572616c2e617263686974656374757265080000000500000000000000"
      "6c6c616d61110000000000000067656e6572616c2e616c69676e6d656e740400"
      "0000200000001500000000000000746f6b656e697a65722e67676d6c2e746f6b"
      "656e730900000008000000020000000000000001000000000000006102000000"
      "0000000062630100000000000000770100000002000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000"
      "0000803f000000c0000000000000000000000000000000000000000000000000";
  std::string out;
  for (size_t i = 0; hex[i] != '\0'; i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

GgufWriter::DataFn FromVectors(const std::vector<std::vector<uint8_t>>& data) {
  return [&data](size_t i, const GgufTensorSpec& t, GgufSink& out) {
    return out.Write(data[i].data(), data[i].size());
  };
}

TEST(GgufWriter, ReproducesSection8FileByteForByte) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("general.alignment", 32);
  const std::vector<std::string> tokens = {"a", "bc"};
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  // ne = [2, 1]: the trailing 1 must be dropped (n_dims 1), as ggml does.
  ASSERT_TRUE(w.AddTensor("w", DType::kF32, {2, 1}).ok());
  const float values[2] = {1.0f, -2.0f};
  auto bytes = w.WriteToString([&](size_t, const GgufTensorSpec& t, GgufSink& out) {
    return out.Write(values, sizeof(values));
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const std::string expected = Section8Bytes();
  ASSERT_EQ(expected.size(), 256u);
  ASSERT_EQ(bytes->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(static_cast<uint8_t>((*bytes)[i]), static_cast<uint8_t>(expected[i]))
        << "first difference at offset " << i;
  }
  EXPECT_EQ(*w.DataOffset(), 0xE0u);
  EXPECT_EQ(*w.FileSize(), 256u);
}

TEST(GgufWriter, SetReplacesAndMovesTheKeyLast) {
  GgufWriter w;
  w.SetU32("a", 1);
  w.SetU32("b", 2);
  w.SetU32("a", 3);  // ggml: remove, then append
  EXPECT_EQ(w.kv_count(), 2u);
  auto bytes = w.WriteToString(FromVectors({}));
  ASSERT_TRUE(bytes.ok());
  auto r = GgufReader::FromBytes(*bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->kvs().size(), 2u);
  EXPECT_EQ((*r)->kvs()[0].key, "b");
  EXPECT_EQ((*r)->kvs()[1].key, "a");
  EXPECT_EQ(*(*r)->GetU32("a"), 3u);
  EXPECT_TRUE(w.Remove("a"));
  EXPECT_FALSE(w.Has("a"));
  EXPECT_FALSE(w.Remove("a"));
}

TEST(GgufWriter, OffsetsAreTheRunningPaddedSumAndCallbackSeesThem) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}).ok());        // 12 -> 32
  ASSERT_TRUE(w.AddTensor("b", DType::kQ8_0, {64, 2}).ok());   // 136 -> 160
  ASSERT_TRUE(w.AddTensor("c", DType::kF16, {5, 1, 1}).ok());  // 10
  std::vector<uint64_t> seen;
  auto bytes = w.WriteToString([&](size_t i, const GgufTensorSpec& t, GgufSink& out) {
    seen.push_back(t.offset);
    std::string fill(t.nbytes, static_cast<char>('A' + i));
    return out.Write(fill.data(), fill.size());
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 32, 192}));
  auto r = GgufReader::FromBytes(*bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  const GgufTensor* c = (*r)->FindTensor("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->n_dims, 1);
  EXPECT_EQ(c->offset, 192u);
  EXPECT_EQ(c->data[0], 'C');
  EXPECT_EQ(c->data[9], 'C');
  // The writer pads after the last tensor too (ggml does).
  EXPECT_EQ(bytes->size() % 32, 0u);
  EXPECT_EQ(bytes->size(), (*r)->data_offset() + 192 + 32);
}

TEST(GgufWriter, HonoursAPowerOfTwoAlignmentKey) {
  GgufWriter w;
  w.SetU32("general.alignment", 64);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF32, {3}).ok());
  auto bytes = w.WriteToString([](size_t, const GgufTensorSpec& t, GgufSink& out) {
    std::string z(t.nbytes, '\1');
    return out.Write(z.data(), z.size());
  });
  ASSERT_TRUE(bytes.ok());
  auto r = GgufReader::FromBytes(*bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->alignment(), 64u);
  EXPECT_EQ((*r)->data_offset() % 64, 0u);
  EXPECT_EQ((*r)->tensors()[1].offset, 64u);
}

TEST(GgufWriter, RejectsABadAlignmentKey) {
  GgufWriter w;
  w.SetU32("general.alignment", 48);
  auto s = w.WriteToString(FromVectors({}));
  EXPECT_THAT(s.status().message(), HasSubstr("general.alignment"));
  EXPECT_THAT(s.status().message(), HasSubstr("power of two"));
  w.SetU64("general.alignment", 32);
  s = w.WriteToString(FromVectors({}));
  EXPECT_THAT(s.status().message(), HasSubstr("must be UINT32"));
}

TEST(GgufWriter, RejectsAnEmptyKeyWhenWriting) {
  GgufWriter w;
  w.SetU32("", 1);
  EXPECT_THAT(w.WriteToString(FromVectors({})).status().message(), HasSubstr("key is empty"));
}

TEST(GgufWriter, AddTensorRejectsWhatGgmlRejects) {
  GgufWriter w;
  EXPECT_TRUE(w.AddTensor(std::string(63, 'n'), DType::kF32, {1}).ok());
  EXPECT_THAT(w.AddTensor(std::string(64, 'n'), DType::kF32, {1}).message(),
              HasSubstr("names must be < 64"));
  EXPECT_THAT(w.AddTensor(std::string(63, 'n'), DType::kF32, {1}).message(),
              HasSubstr("duplicate tensor"));
  EXPECT_THAT(w.AddTensor("q", DType::kQ4_K, {100, 2}).message(), HasSubstr("not a multiple"));
  const int64_t ne[1] = {32};
  EXPECT_THAT(w.AddTensor("t4", 4, ne).message(), HasSubstr("unknown or removed ggml tensor type 4"));
  EXPECT_THAT(w.AddTensor("neg", DType::kF32, {4, -1}).message(), HasSubstr("negative"));
  EXPECT_THAT(w.AddTensor("five", DType::kF32, {1, 1, 1, 1, 1}).message(), HasSubstr("n_dims 5"));
  EXPECT_EQ(w.tensors().size(), 1u);
}

TEST(GgufWriter, CallbackMustWriteExactlyTheTensorSize) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {4}).ok());
  auto few = w.WriteToString([](size_t, const GgufTensorSpec&, GgufSink& out) {
    const char b[8] = {};
    return out.Write(b, 8);
  });
  EXPECT_THAT(few.status().message(), HasSubstr("wrote 8 bytes, expected 16"));
  auto many = w.WriteToString([](size_t, const GgufTensorSpec&, GgufSink& out) {
    const char b[20] = {};
    return out.Write(b, 20);
  });
  EXPECT_THAT(many.status().message(), HasSubstr("wrote more than its 16 bytes"));
}

std::string TempPath(const std::string& leaf) {
  return ::testing::TempDir() + "/gguf_writer_test_" + std::to_string(::getpid()) + "_" + leaf;
}

bool Exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

TEST(GgufWriter, WriteFileRenamesOnSuccessAndCleansUpOnFailure) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {4}).ok());
  const std::string path = TempPath("ok.gguf");
  const float v[4] = {1, 2, 3, 4};
  ASSERT_TRUE(w.WriteFile(path, [&](size_t, const GgufTensorSpec&, GgufSink& out) {
                 return out.Write(v, sizeof(v));
               }).ok());
  EXPECT_TRUE(Exists(path));
  EXPECT_FALSE(Exists(path + ".tmp"));
  auto r = GgufReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  float got[4];
  std::memcpy(got, (*r)->tensors()[0].data, sizeof(got));
  EXPECT_EQ(got[3], 4.0f);

  const std::string bad = TempPath("bad.gguf");
  absl::Status s = w.WriteFile(bad, [](size_t, const GgufTensorSpec&, GgufSink&) {
    return absl::DataLossError("source tensor unreadable");
  });
  EXPECT_THAT(s.message(), HasSubstr("source tensor unreadable"));
  EXPECT_FALSE(Exists(bad));
  EXPECT_FALSE(Exists(bad + ".tmp"));
  std::remove(path.c_str());
}

TEST(GgufWriter, WriteFileReportsAnUnwritableDirectory) {
  GgufWriter w;
  absl::Status s = w.WriteFile("/nonexistent-dir-for-sov-test/x.gguf", FromVectors({}));
  EXPECT_THAT(s.message(), HasSubstr("cannot create '/nonexistent-dir-for-sov-test/x.gguf.tmp'"));
}

}  // namespace
}  // namespace sov
