// A corpus of malformed GGUF files, generated here byte by byte: every
// rejection of gguf.md §6.1, and every truncation of a valid file. Each must
// fail with a message naming the problem (and the key or tensor), never crash;
// the suite is meant to run under ASan/UBSan too (FromBytes keeps the bytes in
// an allocation of exactly their size, so any over-read is caught).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf_reader.h"
#include "runtime/gguf_test_util.h"

namespace sov {
namespace {

using ::testing::HasSubstr;
using testing::GgufBytes;

std::string Enc(const GgufBytes& b) { return b.str(); }

// A valid file assembled from parts, so each case changes exactly one thing.
struct FileSpec {
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors, n_kv;  // override the true counts
  std::vector<std::string> kvs = {
      Enc(GgufBytes().KvStr("general.architecture", "gemma4")),
      Enc(GgufBytes().Str("tokenizer.ggml.tokens").I32(9).I32(8).U64(3).Str("<pad>").Str("a").Str("bc")),
      Enc(GgufBytes().KvU32("gemma4.block_count", 2)),
  };
  // f32[8] = 32 bytes at 0; q8_0[32] = 34 bytes at 32; f32[16] = 64 bytes at
  // 96: the last tensor ends on the alignment, so the file has no trailing
  // padding and every proper prefix of it is invalid.
  std::vector<std::string> infos = {
      Enc(GgufBytes().Info1("a", 8, 0, 0)),
      Enc(GgufBytes().Info1("b", 32, 8, 32)),
      Enc(GgufBytes().Info1("c", 16, 0, 96)),
  };
  size_t data_bytes = 160;

  std::string Build() const {
    GgufBytes b;
    b.Header(n_tensors.value_or(infos.size()), n_kv.value_or(kvs.size()), version);
    for (const auto& kv : kvs) b.Raw(kv);
    for (const auto& info : infos) b.Raw(info);
    b.PadTo(32);
    for (size_t i = 0; i < data_bytes; ++i) b.U8(static_cast<uint8_t>(i * 37 + 1));
    return b.str();
  }
};

void ExpectRejected(const std::string& bytes, std::vector<std::string> needles) {
  auto r = GgufReader::FromBytes(bytes, "bad.gguf");
  ASSERT_FALSE(r.ok()) << "accepted a malformed file";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("bad.gguf: "));
  for (const auto& n : needles) EXPECT_THAT(msg, HasSubstr(n));
}

TEST(GgufMalformed, BaseFileIsValid) {
  const std::string bytes = FileSpec().Build();
  auto r = GgufReader::FromBytes(bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->tensors().size(), 3u);
  EXPECT_EQ((*r)->data_offset() + 160, bytes.size());
}

TEST(GgufMalformed, EveryTruncationFailsCleanly) {
  const std::string bytes = FileSpec().Build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = GgufReader::FromBytes(std::string_view(bytes).substr(0, n), "cut.gguf");
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes accepted";
    const std::string msg(r.status().message());
    EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("unexpected end of file"),
                                      HasSubstr("runs past the end"), HasSubstr("bad magic"),
                                      HasSubstr("cannot fit in a file")))
        << "prefix " << n << ": " << msg;
  }
}

TEST(GgufMalformed, MissingTrailingPaddingIsAcceptedLikeLlamaCpp) {
  // llama.cpp only requires each tensor's bytes to lie inside the file.
  FileSpec s;
  s.infos[2] = Enc(GgufBytes().Info1("c", 4, 0, 96));  // 16 bytes, then 16 of padding
  s.data_bytes = 112;
  EXPECT_TRUE(GgufReader::FromBytes(s.Build()).ok());
}

TEST(GgufMalformed, BadMagic) {
  std::string bytes = FileSpec().Build();
  bytes[3] = 'G';
  ExpectRejected(bytes, {"bad magic [47 47 55 47]"});
  ExpectRejected("", {"bad magic"});
  ExpectRejected("GG", {"bad magic"});
}

TEST(GgufMalformed, BadVersions) {
  for (uint32_t v : {0u, 4u, 100u}) {
    FileSpec s;
    s.version = v;
    ExpectRejected(s.Build(), {"unsupported GGUF version " + std::to_string(v)});
  }
  FileSpec v1;
  v1.version = 1;
  ExpectRejected(v1.Build(), {"version 1", "obsolete"});
  FileSpec swapped;
  swapped.version = 0x03000000;  // a big-endian v3 file read as little-endian
  ExpectRejected(swapped.Build(), {"byte-swapped"});
  FileSpec v2;
  v2.version = 2;  // same layout as v3
  EXPECT_TRUE(GgufReader::FromBytes(v2.Build()).ok());
}

TEST(GgufMalformed, HugeAndNegativeCounts) {
  FileSpec t;
  t.n_tensors = uint64_t{1} << 62;
  ExpectRejected(t.Build(), {"tensor count 4611686018427387904", "cannot fit"});
  FileSpec k;
  k.n_kv = 1000000;
  ExpectRejected(k.Build(), {"metadata kv count 1000000", "cannot fit"});
  FileSpec n;
  n.n_tensors = ~uint64_t{0};
  ExpectRejected(n.Build(), {"tensor count -1 is negative"});
  FileSpec nk;
  nk.n_kv = uint64_t{1} << 63;
  ExpectRejected(nk.Build(), {"kv count", "is negative"});
  // Counts that fit the file but promise more pairs than there are.
  FileSpec more;
  more.n_kv = 4;
  ExpectRejected(more.Build(), {});
}

TEST(GgufMalformed, StringLengths) {
  FileSpec key;
  key.kvs[0] = Enc(GgufBytes().U64(uint64_t{1} << 63).Raw("general.architecture"));
  ExpectRejected(key.Build(), {"key of metadata pair 0 length 9223372036854775808", "1 GiB"});
  FileSpec val;
  val.kvs[0] = Enc(GgufBytes().Str("general.architecture").I32(8).U64(uint64_t{1} << 63));
  ExpectRejected(val.Build(), {"key 'general.architecture' string value", "1 GiB"});
  FileSpec past;
  past.kvs[0] = Enc(GgufBytes().Str("general.architecture").I32(8).U64(100000).Raw("gemma4"));
  ExpectRejected(past.Build(), {"key 'general.architecture' string value of 100000 bytes",
                                "runs past the end"});
  FileSpec elem;
  elem.kvs[1] = Enc(GgufBytes().Str("tokenizer.ggml.tokens").I32(9).I32(8).U64(3).Str("<pad>")
                        .U64(uint64_t{1} << 40));
  ExpectRejected(elem.Build(), {"key 'tokenizer.ggml.tokens' element 1 length", "1 GiB"});
}

TEST(GgufMalformed, EmptyAndDuplicateKeys) {
  FileSpec empty;
  empty.kvs[2] = Enc(GgufBytes().KvU32("", 2));
  ExpectRejected(empty.Build(), {"metadata pair 2 has an empty key"});
  FileSpec dup;
  dup.kvs[2] = Enc(GgufBytes().KvStr("general.architecture", "llama"));
  ExpectRejected(dup.Build(), {"duplicate key 'general.architecture'"});
}

TEST(GgufMalformed, UnknownValueTypesAndNestedArrays) {
  FileSpec unknown;
  unknown.kvs[2] = Enc(GgufBytes().Str("gemma4.block_count").I32(13).U32(2));
  ExpectRejected(unknown.Build(), {"key 'gemma4.block_count' has unknown value type 13"});
  FileSpec negative;
  negative.kvs[2] = Enc(GgufBytes().Str("gemma4.block_count").I32(-1).U32(2));
  ExpectRejected(negative.Build(), {"unknown value type -1"});
  FileSpec elem;
  elem.kvs[2] = Enc(GgufBytes().Str("x.arr").I32(9).I32(99).U64(0));
  ExpectRejected(elem.Build(), {"key 'x.arr' has unknown array element type 99"});
  FileSpec nested;
  nested.kvs[2] = Enc(GgufBytes().Str("x.nested").I32(9).I32(9).U64(1).I32(4).U64(1).U32(5));
  ExpectRejected(nested.Build(), {"key 'x.nested' is a nested array"});
}

TEST(GgufMalformed, ArrayLengths) {
  FileSpec huge;
  huge.kvs[2] = Enc(GgufBytes().Str("x.arr").I32(9).I32(4).U64((uint64_t{1} << 30) + 1));
  ExpectRejected(huge.Build(), {"key 'x.arr' array length 1073741825", "2^30"});
  FileSpec past;
  past.kvs[2] = Enc(GgufBytes().Str("x.arr").I32(9).I32(4).U64(1000).U32(1));
  ExpectRejected(past.Build(), {"key 'x.arr' array of 1000 UINT32", "unexpected end of file"});
  FileSpec strings;
  strings.kvs[1] = Enc(GgufBytes().Str("tokenizer.ggml.tokens").I32(9).I32(8).U64(1u << 29));
  ExpectRejected(strings.Build(), {"array of 536870912 strings", "unexpected end of file"});
}

TEST(GgufMalformed, AlignmentKey) {
  FileSpec type;
  type.kvs[2] = Enc(GgufBytes().Str("general.alignment").I32(10).U64(32));
  ExpectRejected(type.Build(), {"key 'general.alignment' has type UINT64, expected UINT32"});
  for (uint32_t a : {0u, 48u}) {
    FileSpec bad;
    bad.kvs[2] = Enc(GgufBytes().KvU32("general.alignment", a));
    ExpectRejected(bad.Build(), {"'general.alignment' = " + std::to_string(a),
                                 "not a non-zero power of two"});
  }
}

TEST(GgufMalformed, TensorNames) {
  FileSpec long_name;
  long_name.infos[1] = Enc(GgufBytes().Info1(std::string(64, 'x'), 32, 8, 32));
  ExpectRejected(long_name.Build(), {"tensor 1 name", "is 64 bytes; names must be < 64"});
  FileSpec ok;
  ok.infos[1] = Enc(GgufBytes().Info1(std::string(63, 'x'), 32, 8, 32));
  EXPECT_TRUE(GgufReader::FromBytes(ok.Build()).ok());
  FileSpec dup;
  dup.infos[2] = Enc(GgufBytes().Info1("a", 16, 0, 96));
  ExpectRejected(dup.Build(), {"duplicate tensor name 'a'"});
}

TEST(GgufMalformed, TensorTypes) {
  for (int32_t type : {4, 5, 31, 36, 43, 99, -1}) {
    FileSpec s;
    s.infos[1] = Enc(GgufBytes().Info1("b", 32, type, 32));
    ExpectRejected(s.Build(), {"tensor 'b'", "unknown or removed ggml tensor type " +
                                                 std::to_string(type)});
  }
}

TEST(GgufMalformed, TensorShapes) {
  FileSpec block;
  block.infos[1] = Enc(GgufBytes().Info1("b", 33, 8, 32));
  ExpectRejected(block.Build(), {"tensor 'b'", "ne[0] = 33 is not a multiple of the q8_0 block size 32"});
  FileSpec dims;
  dims.infos[1] = Enc(GgufBytes().Str("b").U32(5).I64(32).I64(1).I64(1).I64(1).I64(1).I32(8).U64(32));
  ExpectRejected(dims.Build(), {"tensor 'b' has n_dims 5 > 4"});
  FileSpec neg;
  neg.infos[1] = Enc(GgufBytes().Str("b").U32(2).I64(32).I64(-1).I32(8).U64(32));
  ExpectRejected(neg.Build(), {"tensor 'b'", "ne[1] = -1 is negative"});
  FileSpec elems;  // 2^32 * 2^32 elements overflow int64
  elems.infos[1] =
      Enc(GgufBytes().Str("b").U32(2).I64(int64_t{1} << 32).I64(int64_t{1} << 32).I32(0).U64(32));
  ExpectRejected(elems.Build(), {"tensor 'b'", "element count overflows int64 at ne[1]"});
  FileSpec bytes;  // 2^62 elements fit, 2^64 bytes of f32 do not
  bytes.infos[1] = Enc(GgufBytes().Info1("b", int64_t{1} << 62, 0, 32));
  ExpectRejected(bytes.Build(), {"tensor 'b'", "byte size overflows"});
  FileSpec big;  // representable, but far larger than the file
  big.infos[2] = Enc(GgufBytes().Info1("c", int64_t{1} << 40, 0, 96));
  ExpectRejected(big.Build(), {"tensor 'c' data (4398046511104 bytes", "runs past the end of file"});
}

TEST(GgufMalformed, TensorOffsets) {
  FileSpec overlap;  // b on top of a
  overlap.infos[1] = Enc(GgufBytes().Info1("b", 32, 8, 0));
  ExpectRejected(overlap.Build(), {"tensor 'b' has data offset 0, expected 32"});
  FileSpec misaligned;
  misaligned.infos[1] = Enc(GgufBytes().Info1("b", 32, 8, 40));
  ExpectRejected(misaligned.Build(), {"tensor 'b' has data offset 40, expected 32"});
  FileSpec reordered;  // c's data placed before b's
  reordered.infos[1] = Enc(GgufBytes().Info1("b", 32, 8, 96));
  reordered.infos[2] = Enc(GgufBytes().Info1("c", 16, 0, 32));
  ExpectRejected(reordered.Build(), {"tensor 'b' has data offset 96, expected 32"});
  FileSpec gap;
  gap.infos[2] = Enc(GgufBytes().Info1("c", 16, 0, 128));
  ExpectRejected(gap.Build(), {"tensor 'c' has data offset 128, expected 96"});
}

TEST(GgufMalformed, DataPastEndOfFile) {
  FileSpec s;
  s.data_bytes = 159;  // the last tensor is one byte short
  ExpectRejected(s.Build(), {"tensor 'c' data (64 bytes at offset 96", "runs past the end of file"});
}

TEST(GgufMalformed, CorpusOfSingleByteFlipsNeverCrashes) {
  // Not every flip makes the file invalid (tensor data, string bytes), but
  // none may crash or trip a sanitizer, and every acceptance must hold up.
  const std::string base = FileSpec().Build();
  for (size_t i = 0; i < base.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xFF}) {
      std::string bytes = base;
      bytes[i] = static_cast<char>(bytes[i] ^ x);
      auto r = GgufReader::FromBytes(bytes);
      if (!r.ok()) continue;
      const GgufReader& g = **r;
      if (g.tensors().empty()) continue;
      const uint8_t* file = g.tensors()[0].data - (g.data_offset() + g.tensors()[0].offset);
      for (const GgufTensor& t : g.tensors()) {
        ASSERT_LE(static_cast<uint64_t>(t.data - file) + t.nbytes, g.file_size()) << t.name;
      }
    }
  }
}

}  // namespace
}  // namespace sov
