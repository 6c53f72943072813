#include "runtime/safetensors.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/check.h"
#include "runtime/hf_config.h"
#include "runtime/safetensors_writer.h"

namespace sov {
namespace {

using ::testing::HasSubstr;

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/sov_st_XXXXXX";
  SOV_CHECK(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  SOV_CHECK(f != nullptr) << path;
  SOV_CHECK(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  std::fclose(f);
}

// A file image with a correct length prefix around `header` and `data`.
std::string Image(const std::string& header, const std::string& data) {
  std::string out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

std::string LengthPrefix(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

float BF16ToFloat(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

SafetensorsWriter SampleWriter() {
  SafetensorsWriter w;
  const std::vector<float> m = {1, 2, 3, 4, 5, 6};
  SOV_CHECK(w.AddF32("model.layers.0.mlp.gate_proj.weight", {2, 3}, m).ok());
  const std::vector<float> n = {0.5f, -1.0f, 3.140625f, 1e-3f};
  SOV_CHECK(w.AddBF16("model.norm.weight", {4}, n).ok());
  const int64_t ids[2] = {7, -9};
  SOV_CHECK(w.Add("ids", "I64", {2}, std::string(reinterpret_cast<const char*>(ids), 16)).ok());
  SOV_CHECK(w.Add("mask", "U8", {3}, std::string("\x01\x00\x01", 3)).ok());
  const std::vector<float> s = {0.25f};
  SOV_CHECK(w.AddF32("layer_scalar", {}, s).ok());
  SOV_CHECK(w.AddF32("empty", {0, 5}, std::vector<float>{}).ok());
  w.SetMetadata("format", "pt");
  return w;
}

TEST(SafetensorsTest, WriterRoundTrip) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/model.safetensors";
  ASSERT_TRUE(SampleWriter().WriteFile(path).ok());

  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->names(),
              ::testing::ElementsAre("empty", "ids", "layer_scalar", "mask",
                                     "model.layers.0.mlp.gate_proj.weight", "model.norm.weight"));
  EXPECT_EQ(r->metadata().at("format"), "pt");
  EXPECT_EQ(r->files(), std::vector<std::string>{path});

  absl::StatusOr<TensorView> m = r->Get("model.layers.0.mlp.gate_proj.weight");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->dtype, DType::kF32);
  EXPECT_EQ(m->ShapeStr(), "[2,3]");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(m->as<float>()[i], static_cast<float>(i + 1));
  kernels::WeightView wv = m->AsMatrix();
  EXPECT_EQ(reinterpret_cast<const float*>(wv.row(1))[2], 6.0f);

  absl::StatusOr<TensorView> n = r->Get("model.norm.weight");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->dtype, DType::kBF16);
  EXPECT_EQ(BF16ToFloat(n->as<uint16_t>()[2]), 3.140625f);  // exactly representable
  EXPECT_EQ(BF16ToFloat(n->as<uint16_t>()[1]), -1.0f);

  absl::StatusOr<TensorView> ids = r->Get("ids");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->as<int64_t>()[1], -9);
  absl::StatusOr<TensorView> s = r->Get("layer_scalar");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ndim, 0);
  EXPECT_EQ(s->as<float>()[0], 0.25f);
  absl::StatusOr<TensorView> e = r->Get("empty");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->numel(), 0);

  // U8 is a valid safetensors type that no kernel consumes.
  const SafetensorsTensor* mask = r->Find("mask");
  ASSERT_NE(mask, nullptr);
  EXPECT_EQ(mask->dtype_name, "U8");
  EXPECT_EQ(mask->data[2], 1);
  absl::StatusOr<TensorView> mv = r->Get("mask");
  ASSERT_FALSE(mv.ok());
  EXPECT_THAT(mv.status().message(), HasSubstr("dtype U8"));

  // The writer's layout keeps every tensor aligned to its element size.
  for (const std::string& name : r->names()) {
    const SafetensorsTensor* t = r->Find(name);
    if (t->nbytes == 0) continue;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % t->element_size, 0u) << name;
  }

  // Opening the directory finds model.safetensors.
  absl::StatusOr<SafetensorsReader> by_dir = SafetensorsReader::Open(dir);
  ASSERT_TRUE(by_dir.ok()) << by_dir.status();
  EXPECT_EQ(by_dir->size(), 6u);
}

TEST(SafetensorsTest, MissingNameSuggestsClosest) {
  const std::string path = MakeTempDir() + "/m.safetensors";
  ASSERT_TRUE(SampleWriter().WriteFile(path).ok());
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(path);
  ASSERT_TRUE(r.ok());
  absl::StatusOr<TensorView> t = r->Get("model.layers.0.mlp.gate_proj.weights");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(),
              HasSubstr("no tensor \"model.layers.0.mlp.gate_proj.weights\""));
  EXPECT_THAT(t.status().message(),
              HasSubstr("closest name: \"model.layers.0.mlp.gate_proj.weight\""));
  EXPECT_THAT(t.status().message(), HasSubstr(path));
  EXPECT_FALSE(r->Has("nope"));
}

TEST(SafetensorsTest, DirectoryWithoutWeights) {
  const std::string dir = MakeTempDir();
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("no model.safetensors"));
  absl::StatusOr<SafetensorsReader> missing = SafetensorsReader::Open(dir + "/x.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir + "/x.safetensors"));
}

void WriteShards(const std::string& dir) {
  SafetensorsWriter a, b;
  const std::vector<float> v4 = {1, 2, 3, 4};
  ASSERT_TRUE(a.AddF32("model.embed_tokens.weight", {2, 2}, v4).ok());
  ASSERT_TRUE(a.AddF32("model.norm.weight", {4}, v4).ok());
  ASSERT_TRUE(b.AddF32("model.layers.0.input_layernorm.weight", {4}, v4).ok());
  a.SetMetadata("shard", "1");
  ASSERT_TRUE(a.WriteFile(dir + "/model-00001-of-00002.safetensors").ok());
  ASSERT_TRUE(b.WriteFile(dir + "/model-00002-of-00002.safetensors").ok());
}

TEST(SafetensorsTest, ShardedIndex) {
  const std::string dir = MakeTempDir();
  WriteShards(dir);
  WriteBytes(dir + "/model.safetensors.index.json", R"({
    "metadata": {"total_size": 48},
    "weight_map": {
      "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
      "model.norm.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.input_layernorm.weight": "model-00002-of-00002.safetensors"
    }})");
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(r->files().size(), 2u);
  EXPECT_EQ(r->metadata().at("shard"), "1");
  absl::StatusOr<TensorView> t = r->Get("model.layers.0.input_layernorm.weight");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->as<float>()[3], 4.0f);
  EXPECT_EQ(r->Find("model.layers.0.input_layernorm.weight")->file_index, 1);
  // The index file itself may be passed.
  EXPECT_TRUE(SafetensorsReader::Open(dir + "/model.safetensors.index.json").ok());
}

TEST(SafetensorsTest, ShardedIndexErrors) {
  struct Case {
    std::string index;
    std::string expect;
  } cases[] = {
      {R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})",
       "puts tensor \"model.norm.weight\" in model-00002-of-00002.safetensors"},
      {R"({"weight_map": {"x": "../secrets.safetensors"}})", "is not a plain file name"},
      {R"({"weight_map": {"x": 3}})", "must be a file name, got integer"},
      {R"({"weight_map": {}})", "weight_map is empty"},
      {R"({"metadata": {}})", "missing key \"weight_map\""},
      {R"({"weight_map": {"x": "missing.safetensors"}})", "missing.safetensors"},
      {R"({"weight_map": {"x": "a", "x": "b"}})", "duplicate key \"x\""},
      {R"([1])", "expected a JSON object"},
  };
  for (const Case& c : cases) {
    const std::string dir = MakeTempDir();
    WriteShards(dir);
    WriteBytes(dir + "/model.safetensors.index.json", c.index);
    absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir);
    ASSERT_FALSE(r.ok()) << c.index;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect)) << c.index;
  }
}

TEST(SafetensorsTest, SameTensorInTwoShards) {
  const std::string dir = MakeTempDir();
  WriteShards(dir);
  SafetensorsWriter c;
  const std::vector<float> v4 = {1, 2, 3, 4};
  ASSERT_TRUE(c.AddF32("model.norm.weight", {4}, v4).ok());
  ASSERT_TRUE(c.WriteFile(dir + "/extra.safetensors").ok());
  WriteBytes(dir + "/model.safetensors.index.json", R"({"weight_map": {
      "model.norm.weight": "model-00001-of-00002.safetensors",
      "other": "extra.safetensors"}})");
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("\"model.norm.weight\" appears in both"));
}

// ---- Malformed files: each must fail with a message naming the problem. ----

struct BadCase {
  std::string what;
  std::string image;
  std::vector<std::string> expect;  // substrings of the message
};

std::string T(const std::string& fields) { return "{\"w\": {" + fields + "}}"; }

std::vector<BadCase> BadCorpus() {
  const std::string d16(16, '\0');
  return {
      {"empty file", "", {"0 bytes, too short"}},
      {"short length", "abc", {"3 bytes, too short"}},
      {"length > file", LengthPrefix(1000) + "{}", {"header length 1000 exceeds the 2 bytes"}},
      {"absurd length", LengthPrefix(200'000'000) + std::string(64, ' '), {"absurd"}},
      {"zero length", LengthPrefix(0) + "xx", {"header length is 0"}},
      {"bad JSON", Image("{\"w\": {\"dtype\": ", ""), {"invalid JSON", "line 1"}},
      {"not an object", Image("[1, 2]", ""), {"header must be a JSON object, got array"}},
      {"duplicate names",
       Image(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
             R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
             d16),
       {"duplicate key \"w\""}},
      {"entry not object", Image(R"({"w": 5})", ""), {"tensor \"w\"", "expected an object"}},
      {"missing dtype",
       Image(T(R"("shape": [2], "data_offsets": [0, 8])"), d16),
       {"tensor \"w\"", "missing \"dtype\""}},
      {"dtype not string",
       Image(T(R"("dtype": 1, "shape": [2], "data_offsets": [0, 8])"), d16),
       {"\"dtype\" must be a string"}},
      {"unknown dtype",
       Image(T(R"("dtype": "F17", "shape": [2], "data_offsets": [0, 8])"), d16),
       {"tensor \"w\"", "unknown dtype \"F17\""}},
      {"sub-byte dtype",
       Image(T(R"("dtype": "F4", "shape": [2], "data_offsets": [0, 1])"), d16),
       {"sub-byte dtype \"F4\""}},
      {"missing shape",
       Image(T(R"("dtype": "F32", "data_offsets": [0, 8])"), d16),
       {"missing \"shape\""}},
      {"shape not array",
       Image(T(R"("dtype": "F32", "shape": 2, "data_offsets": [0, 8])"), d16),
       {"\"shape\" must be an array"}},
      {"negative shape",
       Image(T(R"("dtype": "F32", "shape": [-2], "data_offsets": [0, 8])"), d16),
       {"shape[0] = -2 is not a non-negative integer"}},
      {"fractional shape",
       Image(T(R"("dtype": "F32", "shape": [2, 2.5], "data_offsets": [0, 8])"), d16),
       {"shape[1] = 2.5"}},
      {"string shape",
       Image(T(R"("dtype": "F32", "shape": ["2"], "data_offsets": [0, 8])"), d16),
       {"shape[0] = \"2\""}},
      {"shape beyond int64",
       Image(T(R"("dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8])"), d16),
       {"shape[0] = 18446744073709551615"}},
      {"shape product overflow",
       Image(T(R"("dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 8])"),
             d16),
       {"tensor \"w\"", "overflows"}},
      {"byte size overflow",
       Image(T(R"("dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 8])"), d16),
       {"overflows"}},
      {"missing offsets",
       Image(T(R"("dtype": "F32", "shape": [2])"), d16),
       {"missing \"data_offsets\""}},
      {"offsets wrong length",
       Image(T(R"("dtype": "F32", "shape": [2], "data_offsets": [0])"), d16),
       {"must be an array [begin, end]"}},
      {"negative offset",
       Image(T(R"("dtype": "F32", "shape": [2], "data_offsets": [-8, 0])"), d16),
       {"must hold non-negative integers"}},
      {"begin > end",
       Image(T(R"("dtype": "F32", "shape": [0], "data_offsets": [8, 0])"), d16),
       {"begin 8 > end 0"}},
      {"offsets past data",
       Image(T(R"("dtype": "F32", "shape": [4], "data_offsets": [8, 24])"), d16),
       {"tensor \"w\"", "extend past the data section (16 bytes)"}},
      {"size mismatch",
       Image(T(R"("dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12])"), d16),
       {"tensor \"w\"", "span 12 bytes", "needs 16"}},
      {"overlap",
       Image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
             d16),
       {"\"a\" [0, 8) and \"b\" [4, 12) overlap"}},
      {"metadata not object",
       Image(R"({"__metadata__": [1]})", ""),
       {"\"__metadata__\" must be an object"}},
      {"metadata value not string",
       Image(R"({"__metadata__": {"format": 1}})", ""),
       {"\"__metadata__\" value \"format\" must be a string"}},
  };
}

TEST(SafetensorsTest, MalformedCorpusInMemory) {
  for (const BadCase& c : BadCorpus()) {
    absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(c.image, "bad.safetensors");
    ASSERT_FALSE(h.ok()) << c.what;
    EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(h.status().message(), HasSubstr("bad.safetensors")) << c.what;
    for (const std::string& s : c.expect) {
      EXPECT_THAT(h.status().message(), HasSubstr(s)) << c.what;
    }
  }
}

TEST(SafetensorsTest, MalformedCorpusFromFiles) {
  const std::string dir = MakeTempDir();
  int i = 0;
  for (const BadCase& c : BadCorpus()) {
    const std::string path = dir + "/bad" + std::to_string(i++) + ".safetensors";
    WriteBytes(path, c.image);
    absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(path);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_THAT(r.status().message(), HasSubstr(path)) << c.what;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect[0])) << c.what;
  }
}

TEST(SafetensorsTest, TruncatedAtEveryPoint) {
  const std::string good = SampleWriter().Serialize();
  ASSERT_TRUE(ParseSafetensors(good, "good").ok());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(good[i]);
  // Every proper prefix must be rejected; a few points get message checks.
  for (size_t len = 0; len < good.size(); ++len) {
    absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(good.substr(0, len), "t.safetensors");
    ASSERT_FALSE(h.ok()) << "prefix of " << len << " bytes parsed";
    if (len < 8) {
      EXPECT_THAT(h.status().message(), HasSubstr("too short")) << len;
    } else if (len < 8 + n) {
      EXPECT_THAT(h.status().message(), HasSubstr("exceeds")) << len;
    } else {
      EXPECT_THAT(h.status().message(), HasSubstr("past the data section")) << len;
    }
  }
}

TEST(SafetensorsTest, HeaderPaddingAndHolesAreAccepted) {
  // Trailing spaces pad headers to 8 bytes; trailing data bytes are ignored.
  const std::string img =
      Image(R"({"w": {"dtype": "I32", "shape": [1], "data_offsets": [4, 8]}}   )",
            std::string("\0\0\0\0\x05\0\0\0\xff", 9));
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(img, "pad");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->tensors.size(), 1u);
  int32_t v;
  std::memcpy(&v, h->tensors[0].data, 4);
  EXPECT_EQ(v, 5);
}

TEST(SafetensorsTest, WriterRejectsBadInput) {
  SafetensorsWriter w;
  const std::vector<float> v = {1, 2, 3};
  EXPECT_FALSE(w.AddF32("a", {2, 2}, v).ok());
  EXPECT_TRUE(w.AddF32("a", {3}, v).ok());
  EXPECT_THAT(w.AddF32("a", {3}, v).message(), HasSubstr("duplicate tensor name"));
  EXPECT_THAT(w.Add("b", "Q4", {1}, "x").message(), HasSubstr("unknown dtype"));
  EXPECT_FALSE(w.AddF32("__metadata__", {3}, v).ok());
}

TEST(SafetensorsTest, BF16Rounding) {
  EXPECT_EQ(FloatToBF16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBF16(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(FloatToBF16(1.00390625f), 0x3f80);
  // Just above halfway rounds up.
  EXPECT_EQ(FloatToBF16(1.0040f), 0x3f81);
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::nanf("")))));
}

// Byte-level corruption of a valid image: whatever is accepted must still
// describe ranges inside the image (no crash, no out-of-bounds view).
TEST(SafetensorsTest, CorruptedBytesNeverEscapeTheImage) {
  const std::string good = SampleWriter().Serialize();
  uint32_t rng = 12345;
  auto next = [&rng] {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
  };
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string img = good;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly the length prefix and header, where the structure lives.
      const size_t limit = (next() % 8 == 0) ? img.size() : std::min<size_t>(img.size(), 300);
      img[next() % limit] = static_cast<char>(next() & 0xff);
    }
    absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(img, "fuzz");
    if (!h.ok()) {
      EXPECT_THAT(h.status().message(), HasSubstr("fuzz"));
      continue;
    }
    ++accepted;
    const uint8_t* lo = reinterpret_cast<const uint8_t*>(img.data());
    for (const SafetensorsTensor& t : h->tensors) {
      if (t.nbytes == 0) continue;
      ASSERT_GE(t.data, lo + h->data_start) << t.name;
      ASSERT_LE(t.data + t.nbytes, lo + img.size()) << t.name;
      ASSERT_EQ(static_cast<uint64_t>(t.numel()) * t.element_size, t.nbytes) << t.name;
    }
  }
  EXPECT_GT(accepted, 0);  // data-byte flips leave valid files
}

TEST(SafetensorsTest, DeeplyNestedHeaderIsAnErrorNotACrash) {
  std::string header = "{\"w\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(Image(header, ""), "deep");
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.status().message(), HasSubstr("tensor \"w\": expected an object, got array"));
}

TEST(SafetensorsTest, DTypeNames) {
  EXPECT_EQ(SafetensorsDTypeSize("BF16"), 2);
  EXPECT_EQ(SafetensorsDTypeSize("F8_E4M3"), 1);
  EXPECT_EQ(SafetensorsDTypeSize("F4"), std::nullopt);
  EXPECT_EQ(SafetensorsDTypeSize("bf16"), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(SafetensorsToDType("F16"), DType::kF16);
  EXPECT_EQ(SafetensorsToDType("U8"), std::nullopt);
  EXPECT_EQ(DTypeToSafetensors(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeToSafetensors(DType::kI64), "I64");
  EXPECT_EQ(DTypeToSafetensors(DType::kQ4_K), "");
}

// The transformers-generated fixtures (tests/fixtures/<name>/), if present.
TEST(SafetensorsTest, RealFixtures) {
  const std::string root = std::string(SOV_SOURCE_DIR) + "/tests/fixtures";
  std::vector<std::string> dirs;
  if (DIR* d = opendir(root.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string sub = root + "/" + e->d_name;
      struct stat st;
      if (e->d_name[0] != '.' && stat((sub + "/model.safetensors").c_str(), &st) == 0) {
        dirs.push_back(sub);
      }
    }
    closedir(d);
  }
  if (dirs.empty()) GTEST_SKIP() << "no tests/fixtures/*/model.safetensors yet";
  for (const std::string& dir : dirs) {
    absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(r->size(), 0u) << dir;
    bool has_embed = false;
    for (const std::string& name : r->names()) {
      const SafetensorsTensor* t = r->Find(name);
      if (name.ends_with("embed_tokens.weight")) {
        has_embed = true;
        EXPECT_EQ(t->shape.size(), 2u) << name;
      }
      if (!t->dtype || t->shape.size() > kMaxTensorDims) continue;
      absl::StatusOr<TensorView> v = r->Get(name);
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_EQ(v->nbytes(), t->nbytes) << name;
      if (v->dtype == DType::kF32) {
        for (int64_t i = 0; i < v->numel(); ++i) {
          ASSERT_TRUE(std::isfinite(v->as<float>()[i])) << name << "[" << i << "]";
        }
      }
    }
    EXPECT_TRUE(has_embed) << dir << " has no embed_tokens.weight";

    // Its config.json agrees with the embedding table: [vocab_size, hidden_size].
    absl::StatusOr<HfConfig> cfg = ReadHfConfig(dir);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    absl::StatusOr<int64_t> vocab = GetInt(cfg->text, "vocab_size");
    absl::StatusOr<int64_t> hidden = GetInt(cfg->text, "hidden_size");
    ASSERT_TRUE(vocab.ok() && hidden.ok()) << dir;
    const std::string prefix =
        r->Has("model.embed_tokens.weight") ? "model." : "model.language_model.";
    const SafetensorsTensor* embed = r->Find(prefix + "embed_tokens.weight");
    ASSERT_NE(embed, nullptr) << dir;
    EXPECT_THAT(embed->shape, ::testing::ElementsAre(*vocab, *hidden)) << dir;
  }
}

}  // namespace
}  // namespace sov
