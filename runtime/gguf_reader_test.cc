#include "runtime/gguf_reader.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf_writer.h"

namespace sov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes every metadata value type and tensors of several ggml types, and
// returns the bytes and the tensor payloads written.
struct RoundTrip {
  std::string bytes;
  std::vector<std::string> payloads;
};

RoundTrip WriteEverything() {
  GgufWriter w;
  w.SetString("general.architecture", "gemma4");
  w.SetU8("t.u8", 250);
  w.SetI8("t.i8", -7);
  w.SetU16("t.u16", 65000);
  w.SetI16("t.i16", -32000);
  w.SetU32("t.u32", 4000000000u);
  w.SetI32("t.i32", -2000000000);
  w.SetF32("t.f32", 0.1f);
  w.SetBool("t.bool", true);
  w.SetString("t.str", std::string("with\0nul and \xe2\x96\x81 utf8", 21));
  w.SetU64("t.u64", 18000000000000000000ull);
  w.SetI64("t.i64", -9000000000000000000ll);
  w.SetF64("t.f64", 1e300);
  w.SetString("t.empty_str", "");
  const uint8_t u8s[] = {0, 1, 255};
  w.SetU8Array("a.u8", u8s);
  const int8_t i8s[] = {-128, 127};
  w.SetI8Array("a.i8", i8s);
  const uint16_t u16s[] = {1, 65535};
  w.SetArray("a.u16", GgufType::kUint16, u16s, 2);
  const int16_t i16s[] = {-2, 3};
  w.SetArray("a.i16", GgufType::kInt16, i16s, 2);
  const uint32_t u32s[] = {7, 8, 9};
  w.SetU32Array("a.u32", u32s);
  const int32_t i32s[] = {-1, 0, 1};
  w.SetI32Array("a.i32", i32s);
  const float f32s[] = {1.5f, -0.0f, 3e38f};
  w.SetF32Array("a.f32", f32s);
  w.SetBoolArray("a.bool", {true, false, true});
  const uint64_t u64s[] = {1ull << 63};
  w.SetArray("a.u64", GgufType::kUint64, u64s, 1);
  const int64_t i64s[] = {-5, 6};
  w.SetArray("a.i64", GgufType::kInt64, i64s, 2);
  const double f64s[] = {0.25, -1e-300};
  w.SetArray("a.f64", GgufType::kFloat64, f64s, 2);
  const std::vector<std::string> strs = {"<pad>", "", "\xe2\x96\x81the", "a b"};
  w.SetStringArray("a.str", strs);
  w.SetU32Array("a.empty", {});

  struct T {
    const char* name;
    DType type;
    std::vector<int64_t> ne;
  };
  const std::vector<T> tensors = {
      {"token_embd.weight", DType::kQ6_K, {256, 3}},
      {"blk.0.attn_q.weight", DType::kQ4_K, {512, 2}},
      {"blk.0.ffn_down.weight", DType::kQ8_0, {64, 3}},
      {"output_norm.weight", DType::kF32, {7}},
      {"blk.0.attn_norm.weight", DType::kBF16, {5}},
      {"rope_freqs.weight", DType::kF16, {3, 2, 2}},
      {"blk.0.ffn_gate_up_exps.weight", DType::kF32, {2, 3, 2, 2}},
  };
  RoundTrip rt;
  std::mt19937 rng(7);
  for (const T& t : tensors) {
    EXPECT_TRUE(w.AddTensor(t.name, static_cast<int32_t>(t.type), t.ne).ok()) << t.name;
    std::string p(w.tensors().back().nbytes, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    rt.payloads.push_back(std::move(p));
  }
  // A type Sovereign has no kernels for must still be carried (IQ2_XXS, id 16).
  const int64_t iq_ne[2] = {256, 1};
  EXPECT_TRUE(w.AddTensor("iq.weight", 16, iq_ne).ok());
  rt.payloads.push_back(std::string(66, '\x5a'));
  auto bytes = w.WriteToString([&](size_t i, const GgufTensorSpec& t, GgufSink& out) {
    return out.Write(rt.payloads[i].data(), rt.payloads[i].size());
  });
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  rt.bytes = *bytes;
  return rt;
}

TEST(GgufReader, RoundTripsEveryValueType) {
  RoundTrip rt = WriteEverything();
  auto r = GgufReader::FromBytes(rt.bytes, "everything.gguf");
  ASSERT_TRUE(r.ok()) << r.status();
  const GgufReader& g = **r;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.kvs().size(), 27u);
  EXPECT_EQ(g.kvs()[0].key, "general.architecture");  // insertion order
  EXPECT_EQ(*g.GetString("general.architecture"), "gemma4");
  EXPECT_EQ(*g.GetU8("t.u8"), 250);
  EXPECT_EQ(g.FindKV("t.i8")->Get<int8_t>(), -7);
  EXPECT_EQ(*g.GetU16("t.u16"), 65000);
  EXPECT_EQ(*g.GetI16("t.i16"), -32000);
  EXPECT_EQ(*g.GetU32("t.u32"), 4000000000u);
  EXPECT_EQ(*g.GetI32("t.i32"), -2000000000);
  EXPECT_EQ(*g.GetF32("t.f32"), 0.1f);
  EXPECT_TRUE(*g.GetBool("t.bool"));
  EXPECT_EQ(*g.GetString("t.str"), std::string_view("with\0nul and \xe2\x96\x81 utf8", 21));
  EXPECT_EQ(*g.GetU64("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(*g.GetI64("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(*g.GetF64("t.f64"), 1e300);
  EXPECT_EQ(*g.GetString("t.empty_str"), "");

  const GgufKV* u8s = g.FindKV("a.u8");
  ASSERT_NE(u8s, nullptr);
  EXPECT_EQ(u8s->TypeName(), "ARRAY[UINT8]");
  EXPECT_EQ(u8s->count, 3u);
  EXPECT_EQ(u8s->Get<uint8_t>(2), 255);
  EXPECT_EQ(g.FindKV("a.i8")->Get<int8_t>(0), -128);
  EXPECT_EQ(g.FindKV("a.u16")->Get<uint16_t>(1), 65535);
  EXPECT_EQ(g.FindKV("a.i16")->Get<int16_t>(0), -2);
  EXPECT_THAT(*g.GetU32Array("a.u32"), ElementsAre(7u, 8u, 9u));
  EXPECT_THAT(*g.GetI32Array("a.i32"), ElementsAre(-1, 0, 1));
  auto f32s = *g.GetF32Array("a.f32");
  ASSERT_EQ(f32s.size(), 3u);
  EXPECT_EQ(f32s[0], 1.5f);
  EXPECT_TRUE(std::signbit(f32s[1]));
  EXPECT_EQ(f32s[2], 3e38f);
  EXPECT_THAT(*g.GetBoolArray("a.bool"), ElementsAre(true, false, true));
  EXPECT_EQ(g.FindKV("a.u64")->Get<uint64_t>(0), 1ull << 63);
  EXPECT_EQ(g.FindKV("a.i64")->Get<int64_t>(1), 6);
  EXPECT_EQ(g.FindKV("a.f64")->Get<double>(1), -1e-300);
  auto strs = *g.GetStringArray("a.str");
  ASSERT_EQ(strs.size(), 4u);
  EXPECT_EQ(strs[0], "<pad>");
  EXPECT_EQ(strs[1], "");
  EXPECT_EQ(strs[2], "\xe2\x96\x81the");
  EXPECT_EQ(strs[3], "a b");
  EXPECT_TRUE(g.GetU32Array("a.empty")->empty());
}

TEST(GgufReader, RoundTripsTensorsZeroCopy) {
  RoundTrip rt = WriteEverything();
  auto r = GgufReader::FromBytes(rt.bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  const GgufReader& g = **r;
  ASSERT_EQ(g.tensors().size(), 8u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  for (size_t i = 0; i < g.tensors().size(); ++i) {
    const GgufTensor& t = g.tensors()[i];
    ASSERT_EQ(t.nbytes, rt.payloads[i].size()) << t.name;
    EXPECT_EQ(std::memcmp(t.data, rt.payloads[i].data(), t.nbytes), 0) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
  }
  const GgufTensor* q6 = *g.GetTensor("token_embd.weight");
  EXPECT_EQ(q6->dtype, DType::kQ6_K);
  EXPECT_EQ(q6->n_dims, 2);
  EXPECT_THAT(q6->ne, ElementsAre(256, 3, 1, 1));
  EXPECT_EQ(q6->nbytes, 3u * 210);
  const GgufTensor* q4 = *g.GetTensor("blk.0.attn_q.weight");
  EXPECT_EQ(q4->nbytes, 2u * 2 * 144);
  const GgufTensor* q8 = *g.GetTensor("blk.0.ffn_down.weight");
  EXPECT_EQ(q8->nbytes, 3u * 2 * 34);
  const GgufTensor* f16 = *g.GetTensor("rope_freqs.weight");
  EXPECT_EQ(f16->n_dims, 3);
  EXPECT_THAT(f16->ne, ElementsAre(3, 2, 2, 1));
  EXPECT_EQ(f16->nbytes, 24u);
  const GgufTensor* four = *g.GetTensor("blk.0.ffn_gate_up_exps.weight");
  EXPECT_EQ(four->n_dims, 4);
  EXPECT_EQ(four->elements(), 24);
  const GgufTensor* iq = *g.GetTensor("iq.weight");
  EXPECT_EQ(iq->type, 16);
  EXPECT_FALSE(iq->dtype.has_value());
  EXPECT_EQ(iq->nbytes, 66u);
  EXPECT_EQ(GgmlTypeName(iq->type), "iq2_xxs");
  // Pointers are into the reader's storage, not copies.
  EXPECT_EQ(q6->data, g.tensors()[0].data);
  EXPECT_EQ(q4->data - q6->data, static_cast<ptrdiff_t>(q4->offset - q6->offset));
  EXPECT_THAT(g.GetTensor("nope").status().message(), HasSubstr("tensor 'nope' not found"));
}

TEST(GgufReader, OpensAMappedFileAndCopiesKVsThroughTheWriter) {
  RoundTrip rt = WriteEverything();
  const std::string path =
      ::testing::TempDir() + "/gguf_reader_test_" + std::to_string(::getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(rt.bytes.data(), 1, rt.bytes.size(), f), rt.bytes.size());
  std::fclose(f);
  auto r = GgufReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->file_size(), rt.bytes.size());
  EXPECT_EQ((*r)->name(), path);
  EXPECT_EQ(std::memcmp((*r)->tensors()[1].data, rt.payloads[1].data(), rt.payloads[1].size()), 0);

  // Copy every pair and tensor into a new file: it must equal the original.
  GgufWriter w;
  for (const GgufKV& kv : (*r)->kvs()) w.CopyKV(kv);
  for (const GgufTensor& t : (*r)->tensors()) {
    ASSERT_TRUE(w.AddTensor(t.name, t.type, std::span<const int64_t>(t.ne.data(), t.n_dims)).ok());
  }
  auto copy = w.WriteToString([&](size_t i, const GgufTensorSpec& t, GgufSink& out) {
    return out.Write((*r)->tensors()[i].data, t.nbytes);
  });
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_TRUE(*copy == rt.bytes);
  std::remove(path.c_str());

  EXPECT_THAT(GgufReader::Open(path + ".missing").status().message(), HasSubstr(".missing"));
}

// A tiny Gemma-4-like header to exercise the typed getters.
std::unique_ptr<GgufReader> HyperParams() {
  GgufWriter w;
  w.SetString("general.architecture", "gemma4");
  w.SetU32("gemma4.block_count", 4);
  w.SetI32("gemma4.context_length", 4096);  // wrong type on purpose
  w.SetF32("gemma4.rope.freq_base", 1e6f);
  const int32_t ff[] = {8, 8, 16, 16};
  w.SetI32Array("gemma4.feed_forward_length", ff);  // INT32 array: accepted
  w.SetU32("gemma4.attention.head_count", 8);
  const uint32_t kv3[] = {1, 2, 3};
  w.SetU32Array("gemma4.attention.head_count_kv", kv3);
  w.SetBoolArray("gemma4.attention.sliding_window_pattern", {true, true, false, true});
  const int32_t neg[] = {-1, 4, 4, 4};
  w.SetI32Array("t.negative", neg);
  const int32_t scores[] = {-3, 0};
  w.SetI32Array("tokenizer.ggml.scores", scores);
  auto bytes = w.WriteToString([](size_t, const GgufTensorSpec&, GgufSink&) {
    return absl::OkStatus();
  });
  EXPECT_TRUE(bytes.ok());
  auto r = GgufReader::FromBytes(*bytes, "hp.gguf");
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(*r);
}

TEST(GgufReader, TypedGettersNameTheKeyAndTheTypes) {
  auto g = HyperParams();
  EXPECT_EQ(*g->GetU32("gemma4.block_count"), 4u);
  auto s = g->GetU32("gemma4.context_length");
  EXPECT_THAT(s.status().message(), HasSubstr("hp.gguf: key 'gemma4.context_length' has type INT32, expected UINT32"));
  EXPECT_THAT(g->GetU32("gemma4.missing").status().message(),
              HasSubstr("key 'gemma4.missing' not found"));
  EXPECT_EQ(g->GetU32("gemma4.missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(g->GetString("gemma4.block_count").status().message(),
              HasSubstr("has type UINT32, expected STRING"));
  EXPECT_THAT(g->GetStringArray("gemma4.feed_forward_length").status().message(),
              HasSubstr("has type ARRAY[INT32], expected ARRAY[STRING]"));
  EXPECT_EQ(*g->GetU32Or("gemma4.attention.sliding_window", 512), 512u);
  EXPECT_FALSE(g->GetU32Or("gemma4.context_length", 1).ok());
  EXPECT_EQ(*g->GetF32Or("gemma4.rope.freq_base", 1.0f), 1e6f);
  EXPECT_THAT(*g->GetF32Array("tokenizer.ggml.scores"), ElementsAre(-3.0f, 0.0f));
  EXPECT_THAT(g->GetU32Array("t.negative").status().message(),
              HasSubstr("key 't.negative' element 0 = -1 is out of range"));
}

TEST(GgufReader, PerLayerHelpersReplicateScalarsAndCheckArrayLengths) {
  auto g = HyperParams();
  EXPECT_THAT(*g->GetU32PerLayer("gemma4.attention.head_count", 4), ElementsAre(8u, 8u, 8u, 8u));
  EXPECT_THAT(*g->GetU32PerLayer("gemma4.feed_forward_length", 4), ElementsAre(8u, 8u, 16u, 16u));
  EXPECT_THAT(g->GetU32PerLayer("gemma4.attention.head_count_kv", 4).status().message(),
              HasSubstr("per-layer key 'gemma4.attention.head_count_kv' has 3 elements, expected 4"));
  EXPECT_THAT(*g->GetBoolPerLayer("gemma4.attention.sliding_window_pattern", 4),
              ElementsAre(true, true, false, true));
  EXPECT_THAT(*g->GetU32PerLayer("gemma4.attention.sliding_window_pattern", 4),
              ElementsAre(1u, 1u, 0u, 1u));
  EXPECT_THAT(*g->GetF32PerLayer("gemma4.rope.freq_base", 2), ElementsAre(1e6f, 1e6f));
  EXPECT_THAT(g->GetU32PerLayer("gemma4.context_length", 4).status().message(),
              HasSubstr("has type INT32, expected UINT32 or an array"));
  EXPECT_THAT(g->GetBoolPerLayer("gemma4.block_count", 4).status().message(),
              HasSubstr("has type UINT32, expected BOOL or an array"));
}

}  // namespace
}  // namespace sov
