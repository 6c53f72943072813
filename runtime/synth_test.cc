// sov synth: determinism (seed, thread count, block size), values equal to
// the generator, the file loads with the mix's types, finite logits through
// our runtime, and clear errors for bad flags.
#include "runtime/synth.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/gemma4/config.h"
#include "quant/quantize.h"
#include "runtime/gguf_reader.h"
#include "runtime/loader.h"

namespace sov {
namespace {

std::string TmpPath(const std::string& name) {
  return ::testing::TempDir() + "/synth_" + std::to_string(::getpid()) + "_" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string Synth(const std::string& name, const std::string& arch, FileType ft, uint64_t seed,
                  int threads, int64_t block_rows = 0) {
  SynthOptions o;
  o.arch = arch;
  o.ftype = ft;
  o.seed = seed;
  o.threads = threads;
  o.block_rows = block_rows;
  const std::string path = TmpPath(name);
  absl::StatusOr<QuantizeReport> r = SynthModel(o, path);
  EXPECT_TRUE(r.ok()) << r.status();
  return path;
}

TEST(SynthNormal, UnitMomentsAndIndependentOfCallOrder) {
  double sum = 0, sum2 = 0, sum4 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = SynthNormal(3, "blk.0.attn_q.weight", static_cast<uint64_t>(i));
    sum += x;
    sum2 += x * x;
    sum4 += x * x * x * x;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);  // standard error 1/sqrt(n) = 0.0022
  EXPECT_NEAR(var, 1.0, 0.02);
  // Irwin-Hall(4) kurtosis is 3 - 6/20 = 2.7, close to the normal's 3.
  EXPECT_NEAR(sum4 / n, 2.7, 0.1);
  EXPECT_EQ(SynthNormal(3, "a", 17), SynthNormal(3, "a", 17));
  EXPECT_NE(SynthNormal(3, "a", 17), SynthNormal(4, "a", 17));
  EXPECT_NE(SynthNormal(3, "a", 17), SynthNormal(3, "b", 17));
}

TEST(Synth, BytesDependOnSeedOnlyNotThreadsOrBlocks) {
  const std::string a = Synth("a.gguf", "test-tiny", FileType::kQ4_K_M, 7, 1);
  const std::string b = Synth("b.gguf", "test-tiny", FileType::kQ4_K_M, 7, 2);
  const std::string c = Synth("c.gguf", "test-tiny", FileType::kQ4_K_M, 7, 2, /*block_rows=*/3);
  const std::string d = Synth("d.gguf", "test-tiny", FileType::kQ4_K_M, 8, 2);
  const std::string ba = ReadAll(a);
  ASSERT_GT(ba.size(), 1000000u);
  EXPECT_LT(ba.size(), 20000000u);  // "a few MB"
  EXPECT_TRUE(ba == ReadAll(b)) << "1 vs 2 threads differ";
  EXPECT_TRUE(ba == ReadAll(c)) << "block size changes the bytes";
  EXPECT_FALSE(ba == ReadAll(d)) << "the seed has no effect";
  for (const std::string& p : {a, b, c, d}) std::remove(p.c_str());
}

TEST(Synth, F32ValuesAreTheGeneratorsAndScalesAsDocumented) {
  const std::string p = Synth("f32.gguf", "test-tiny", FileType::kF32, 11, 2, /*block_rows=*/5);
  absl::StatusOr<std::unique_ptr<GgufReader>> r = GgufReader::Open(p);
  ASSERT_TRUE(r.ok()) << r.status();
  const gemma4::ModelConfig c = *SynthConfig("test-tiny");
  int checked = 0;
  for (const GgufTensor& t : (*r)->tensors()) {
    // llama-quantize never converts per_layer_model_proj: it keeps the
    // (bf16) source type even in an F32 file (quantization.md §12.4).
    const DType want_type = t.name == "per_layer_model_proj.weight" ? DType::kBF16 : DType::kF32;
    ASSERT_EQ(t.type, static_cast<int32_t>(want_type)) << t.name;
    const float* v = reinterpret_cast<const float*>(t.data);
    const std::string name(t.name);
    if (name == "blk.1.attn_q.weight" || name == "token_embd.weight" || name == "blk.0.attn_norm.weight" ||
        name == "blk.0.attn_q_norm.weight" || name == "blk.1.attn_k_norm.weight") {
      const bool vec = t.n_dims == 1;
      const double scale = name == "token_embd.weight" ? 1.0 / std::sqrt(double(c.hidden_size))
                                                       : 1.0 / std::sqrt(double(t.ne[0]));
      // q_norm / k_norm: d^(-1/4) so that q.k (no 1/sqrt(d) in Gemma 4) has std ~ 1.
      const bool qk_norm = name.find("_q_norm") != std::string::npos || name.find("_k_norm") != std::string::npos;
      const float base = qk_norm ? static_cast<float>(std::pow(double(t.ne[0]), -0.25)) : 1.0f;
      if (qk_norm) EXPECT_EQ(t.ne[0], c.layers[name[4] - '0'].head_dim) << name;
      for (int64_t i = 0; i < t.elements(); i += 37) {
        const float z = SynthNormal(11, name, static_cast<uint64_t>(i));
        const float want = vec ? base * (1.0f + 0.05f * z) : static_cast<float>(scale) * z;
        ASSERT_EQ(v[i], want) << name << "[" << i << "]";
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 5);
  std::remove(p.c_str());
}

TEST(Synth, TypesFollowTheQ4KMMix) {
  const std::string p = Synth("mix.gguf", "test-tiny", FileType::kQ4_K_M, 1, 2);
  absl::StatusOr<std::unique_ptr<GgufReader>> r = GgufReader::Open(p);
  ASSERT_TRUE(r.ok()) << r.status();
  std::map<std::string, int32_t> type;
  for (const GgufTensor& t : (*r)->tensors()) type[std::string(t.name)] = t.type;
  auto is = [&](const char* n, DType d) {
    ASSERT_TRUE(type.count(n)) << n << " missing";
    EXPECT_EQ(type[n], static_cast<int32_t>(d)) << n;
  };
  is("token_embd.weight", DType::kQ6_K);  // llama-quantize: token embeddings Q6_K under Q4_K_M
  is("blk.0.attn_q.weight", DType::kQ4_K);
  is("blk.0.attn_norm.weight", DType::kF32);
  is("rope_freqs.weight", DType::kF32);
  // KV-shared layers (2, 3) carry no K/V weights.
  EXPECT_EQ(type.count("blk.2.attn_k.weight"), 0u);
  EXPECT_EQ(type.count("blk.1.attn_k.weight"), 1u);
  // Some attn_v/ffn_down get more bits (use_more_bits): at least one Q6_K.
  int q6 = 0;
  for (const auto& [n, t] : type) q6 += n.find("ffn_down") != std::string::npos && t == static_cast<int32_t>(DType::kQ6_K);
  EXPECT_GT(q6, 0);
  const GgufKV* ft = (*r)->FindKV("general.file_type");
  ASSERT_NE(ft, nullptr);
  EXPECT_EQ(ft->Get<uint32_t>(), 15u);
  std::remove(p.c_str());
}

void ExpectFiniteSpreadLogits(const std::string& arch) {
  const std::string p = Synth(arch + ".gguf", arch, FileType::kQ8_0, 5, 2);
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(p, LoadOptions{});
  ASSERT_TRUE(m.ok()) << m.status();
  RunnerOptions ro;
  ro.max_tokens = 8;
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> run = Gemma4Runner::Create(**m, ro);
  ASSERT_TRUE(run.ok()) << run.status();
  const std::vector<int32_t> tokens = {2, 17, 300, 5, 511, 42};
  absl::StatusOr<std::vector<float>> logits = (*run)->Logits(tokens);
  ASSERT_TRUE(logits.ok()) << logits.status();
  const int64_t V = (*m)->config.vocab_size;
  ASSERT_EQ(logits->size(), tokens.size() * static_cast<size_t>(V));
  for (size_t t = 0; t < tokens.size(); ++t) {
    double s = 0, s2 = 0;
    for (int64_t v = 0; v < V; ++v) {
      const float x = (*logits)[t * V + v];
      ASSERT_TRUE(std::isfinite(x)) << arch << " position " << t;
      s += x;
      s2 += double(x) * x;
    }
    const double sd = std::sqrt(s2 / V - (s / V) * (s / V));
    // Unit-RMS final hidden state against N(0, 1/H) embedding rows: sd ~ 1.
    EXPECT_GT(sd, 0.3) << arch << " position " << t;
    EXPECT_LT(sd, 5.0) << arch << " position " << t;
  }
  std::remove(p.c_str());
}

TEST(Synth, TinyModelRunsWithFiniteLogits) { ExpectFiniteSpreadLogits("test-tiny"); }
TEST(Synth, TinyMoeModelRunsWithFiniteLogits) { ExpectFiniteSpreadLogits("test-tiny-moe"); }

TEST(Synth, LayersTruncatePublishedConfigs) {
  const gemma4::ModelConfig e2b = *SynthConfig("gemma4-e2b");
  absl::StatusOr<gemma4::ModelConfig> t = TruncateLayers(e2b, 7);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->num_layers, 7);
  // 20 of 35 in proportion would be 4, but layer 4 is the first full one:
  // only layers 5 and 6 can read an earlier layer of their type.
  EXPECT_EQ(t->num_kv_shared_layers, 2);
  absl::StatusOr<gemma4::ModelConfig> t14 = TruncateLayers(e2b, 14);
  ASSERT_TRUE(t14.ok()) << t14.status();
  EXPECT_EQ(t14->num_kv_shared_layers, 8);
  EXPECT_EQ(t->layers.back().type, gemma4::LayerType::kFull);
  EXPECT_FALSE(TruncateLayers(e2b, 0).ok());
  EXPECT_FALSE(TruncateLayers(e2b, 36).ok());
  EXPECT_FALSE(SynthConfig("gemma4-e3b").ok());
}

std::string RunSov(const std::string& args, int* rc) {
  const std::string log = TmpPath("cli.log");
  const std::string cmd = std::string(SOV_BIN_PATH) + " synth " + args + " > " + log + " 2>&1";
  *rc = std::system(cmd.c_str());
  std::string out = ReadAll(log);
  std::remove(log.c_str());
  return out;
}

TEST(SynthCli, BadFlagsGiveClearErrors) {
  const std::string out = TmpPath("cli.gguf");
  struct Case {
    std::string args, message;
  } cases[] = {
      {"--type Q4_K_M -o " + out, "arch"},
      {"--arch gemma4-e9b --type Q4_K_M -o " + out, "unknown --arch 'gemma4-e9b'"},
      {"--arch test-tiny --type Q3_K -o " + out, "unknown --type 'Q3_K'"},
      {"--arch test-tiny --type Q8_0", "output"},
      {"--arch test-tiny --type Q8_0 --no-vocab --layers 0 -o " + out, "--layers must be >= 1"},
      {"--arch test-tiny --type Q8_0 --no-vocab --layers 9 -o " + out, "--layers must be in [1, 4]"},
      {"--arch test-tiny --type Q8_0 --no-vocab --seed x -o " + out, "seed"},
      {"--arch test-tiny --type Q8_0 --vocab /nonexistent/v.gguf -o " + out, "/nonexistent/v.gguf"},
      {"--arch test-tiny --type Q8_0 --no-vocab --frobnicate 1 -o " + out, "frobnicate"},
  };
  for (const Case& k : cases) {
    int rc = 0;
    const std::string log = RunSov(k.args, &rc);
    EXPECT_NE(rc, 0) << k.args;
    EXPECT_NE(log.find(k.message), std::string::npos) << k.args << "\n" << log;
    EXPECT_EQ(::access(out.c_str(), F_OK), -1) << k.args << ": an output file was left behind";
    EXPECT_EQ(::access((out + ".tmp").c_str(), F_OK), -1) << k.args << ": a .tmp file was left behind";
  }
  int rc = 0;
  const std::string log = RunSov("--arch test-tiny --type Q8_0 --no-vocab --quiet -o " + out, &rc);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_EQ(::access(out.c_str(), F_OK), 0);
  std::remove(out.c_str());
}

}  // namespace
}  // namespace sov
