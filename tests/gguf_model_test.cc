// Gemma 4 GGUF loading: F32 GGUF logits equal the HF-directory logits on
// every fixture, the config read back equals the HF one, rewriting is
// byte-identical, split expert banks load, and malformed metadata/tensors
// give errors that name the key or tensor.
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/gemma4/tensor_table.h"
#include "runtime/gguf_model.h"
#include "tests/gemma4_fixture.h"
#include "tests/gguf_model_util.h"

namespace sov {
namespace {

using testing::FixtureDir;
using testing::TmpPath;

std::vector<std::string> AllFixtures() {
  std::vector<std::string> v = testing::FixtureNames();
  v.push_back("kquant_style");
  return v;
}

class GgufF32 : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!testing::FixtureExists(GetParam())) GTEST_SKIP() << "fixture absent";
    absl::StatusOr<testing::Cases> c = testing::LoadCases(GetParam());
    ASSERT_TRUE(c.ok()) << c.status();
    cases_ = *std::move(c);
    path_ = TmpPath(GetParam() + ".f32.gguf");
    ASSERT_TRUE(testing::Quantize(FixtureDir(GetParam()), path_, FileType::kF32).ok());
  }
  testing::Cases cases_;
  std::string path_;
};

TEST_P(GgufF32, LogitsEqualHfDirectory) {
  absl::StatusOr<std::vector<float>> hf = testing::ModelLogits(FixtureDir(GetParam()), cases_.tokens);
  ASSERT_TRUE(hf.ok()) << hf.status();
  absl::StatusOr<std::vector<float>> gg = testing::ModelLogits(path_, cases_.tokens);
  ASSERT_TRUE(gg.ok()) << gg.status();
  ASSERT_EQ(hf->size(), gg->size());
  const double d = testing::MaxAbsDiff(hf->data(), gg->data(), hf->size());
  std::printf("[%s] F32 GGUF vs HF dir: max |dlogit| = %.3g\n", GetParam().c_str(), d);
  // Same f32 weights, same graph, same kernels: the arithmetic is identical.
  EXPECT_EQ(d, 0.0);
  // And both match transformers.
  EXPECT_LE(testing::MaxAbsDiff(gg->data(), cases_.logits.data(), gg->size()), 1e-4);
}

TEST_P(GgufF32, ConfigRoundTrips) {
  absl::StatusOr<std::unique_ptr<Gemma4Model>> hf = LoadGemma4(FixtureDir(GetParam()));
  absl::StatusOr<std::unique_ptr<Gemma4Model>> gg = LoadGemma4(path_);
  ASSERT_TRUE(hf.ok() && gg.ok()) << hf.status() << gg.status();
  const gemma4::ModelConfig& a = (*hf)->config;
  const gemma4::ModelConfig& b = (*gg)->config;
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.ple_dim, b.ple_dim);
  if (a.ple_dim > 0) EXPECT_EQ(a.ple_vocab, b.ple_vocab);  // unused without PLE
  EXPECT_EQ(a.num_kv_shared_layers, b.num_kv_shared_layers);
  EXPECT_EQ(a.enable_moe, b.enable_moe);
  EXPECT_EQ(a.num_experts, b.num_experts);
  EXPECT_EQ(a.top_k_experts, b.top_k_experts);
  EXPECT_EQ(a.moe_intermediate_size, b.moe_intermediate_size);
  EXPECT_FLOAT_EQ(static_cast<float>(a.final_logit_softcapping), static_cast<float>(b.final_logit_softcapping));
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  for (gemma4::LayerType t : {gemma4::LayerType::kSliding, gemma4::LayerType::kFull}) {
    int64_t hd = 0;
    for (const gemma4::LayerConfig& l : a.layers)
      if (l.type == t) hd = l.head_dim;
    if (hd == 0) continue;
    EXPECT_EQ(gemma4::RopeInvFreq(a.rope(t), hd), gemma4::RopeInvFreq(b.rope(t), hd));
  }
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    SCOPED_TRACE(l);
    EXPECT_EQ(a.layers[l].type, b.layers[l].type);
    EXPECT_EQ(a.layers[l].head_dim, b.layers[l].head_dim);
    EXPECT_EQ(a.layers[l].n_kv_heads, b.layers[l].n_kv_heads);
    EXPECT_EQ(a.layers[l].owns_kv, b.layers[l].owns_kv);
    EXPECT_EQ(a.layers[l].kv_source, b.layers[l].kv_source);
    EXPECT_EQ(a.layers[l].k_eq_v, b.layers[l].k_eq_v);
    EXPECT_EQ(a.layers[l].ffn_dim, b.layers[l].ffn_dim);
    EXPECT_EQ(a.layers[l].moe, b.layers[l].moe);
  }
}

TEST_P(GgufF32, RewriteIsByteIdentical) {
  // GGUF -> sov quantize --type F32 -> GGUF: every tensor keeps its type, so
  // every byte must survive (metadata order included).
  const std::string again = TmpPath(GetParam() + ".f32.again.gguf");
  ASSERT_TRUE(testing::Quantize(path_, again, FileType::kF32).ok());
  const std::string a = testing::ReadAll(path_), b = testing::ReadAll(again);
  EXPECT_GT(a.size(), 1000u);
  EXPECT_TRUE(a == b) << "sizes " << a.size() << " vs " << b.size();
}

TEST_P(GgufF32, ThreadCountDoesNotChangeBytes) {
  const std::string one = TmpPath(GetParam() + ".bf16.t1.gguf");
  const std::string two = TmpPath(GetParam() + ".bf16.t2.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir(GetParam()), one, FileType::kBF16, "", 1).ok());
  ASSERT_TRUE(testing::Quantize(FixtureDir(GetParam()), two, FileType::kBF16, "", 2).ok());
  EXPECT_TRUE(testing::ReadAll(one) == testing::ReadAll(two));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufF32, ::testing::ValuesIn(AllFixtures()));

// ---- Metadata as llama.cpp expects it ----------------------------------------------

TEST(GgufMetadata, TypesAndLayout) {
  const std::string path = TmpPath("e_style.meta.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir("e_style"), path, FileType::kF32).ok());
  absl::StatusOr<std::unique_ptr<GgufReader>> g = GgufReader::Open(path);
  ASSERT_TRUE(g.ok()) << g.status();
  const GgufReader& r = **g;
  EXPECT_EQ(r.GetString("general.architecture").value(), "gemma4");
  EXPECT_EQ(r.GetU32("gemma4.block_count").value(), 6u);
  EXPECT_EQ(r.GetU32("gemma4.embedding_length").value(), 72u);
  EXPECT_EQ(r.GetU32("gemma4.attention.key_length").value(), 32u);
  EXPECT_EQ(r.GetU32("gemma4.attention.key_length_swa").value(), 16u);
  EXPECT_EQ(r.GetU32("gemma4.attention.shared_kv_layers").value(), 2u);
  EXPECT_EQ(r.GetU32("gemma4.embedding_length_per_layer_input").value(), 8u);
  EXPECT_FLOAT_EQ(r.GetF32("gemma4.final_logit_softcapping").value(), 30.0f);
  EXPECT_FLOAT_EQ(r.GetF32("gemma4.rope.freq_base").value(), 1e6f);
  EXPECT_FLOAT_EQ(r.GetF32("gemma4.rope.freq_base_swa").value(), 1e4f);
  // Double-wide MLP on the two KV-shared layers: a per-layer UINT32 array.
  const GgufKV* ffn = r.FindKV("gemma4.feed_forward_length");
  ASSERT_NE(ffn, nullptr);
  EXPECT_EQ(ffn->type, GgufType::kArray);
  EXPECT_EQ(ffn->elem_type, GgufType::kUint32);
  EXPECT_EQ(r.GetU32Array("gemma4.feed_forward_length").value(),
            (std::vector<uint32_t>{96, 96, 96, 96, 192, 192}));
  const GgufKV* pat = r.FindKV("gemma4.attention.sliding_window_pattern");
  ASSERT_NE(pat, nullptr);
  EXPECT_EQ(pat->elem_type, GgufType::kBool);
  EXPECT_EQ(r.GetBoolArray("gemma4.attention.sliding_window_pattern").value(),
            (std::vector<bool>{true, true, true, false, true, false}));
  // quantization_version and file_type come last, as llama-quantize leaves them.
  ASSERT_GE(r.kvs().size(), 2u);
  EXPECT_EQ(r.kvs()[r.kvs().size() - 2].key, "general.quantization_version");
  EXPECT_EQ(r.kvs().back().key, "general.file_type");
  EXPECT_EQ(r.GetU32("general.file_type").value(), 0u);
  EXPECT_EQ(r.GetU32("general.quantization_version").value(), 2u);
  // rope_freqs: 1.0 for the 4 rotated pairs of a 32-wide full head, then "off".
  const GgufTensor* rf = r.FindTensor("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  ASSERT_EQ(rf->ne[0], 16);
  ASSERT_EQ(rf->type, 0);
  std::vector<float> f(16);
  std::memcpy(f.data(), rf->data, 64);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(f[i], i < 4 ? 1.0f : kRopeFreqOff) << i;
  // KV-shared layers have no attn_k/attn_v; tensors in llama-quantize order.
  EXPECT_EQ(r.FindTensor("blk.4.attn_k.weight"), nullptr);
  EXPECT_EQ(r.FindTensor("blk.5.attn_v.weight"), nullptr);
  std::vector<std::string> names;
  for (const GgufTensor& t : r.tensors()) names.emplace_back(t.name);
  const std::vector<size_t> order = ProcessingOrder(names);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i) << names[i];
  EXPECT_EQ(names.front(), "output_norm.weight");
  // Token embedding ne = [H, V] (reverse of PyTorch's [V, H]).
  const GgufTensor* emb = r.FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 72);
  EXPECT_EQ(emb->ne[1], 512);
}

// ---- Errors ---------------------------------------------------------------------------

class GgufErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = TmpPath("err_base.gguf");
    ASSERT_TRUE(testing::Quantize(FixtureDir("e_style"), base_, FileType::kF32).ok());
  }
  std::string Load(const testing::GgufEdit& e, const std::string& tag) {
    const std::string p = TmpPath("err_" + tag + ".gguf");
    absl::Status s = testing::RewriteGguf(base_, p, e);
    if (!s.ok()) return "rewrite failed: " + std::string(s.message());
    absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(p);
    return m.ok() ? std::string("ok") : std::string(m.status().message());
  }
  std::string base_;
};

TEST_F(GgufErrors, NamesTheProblem) {
  testing::GgufEdit e;
  e.kv = [](GgufWriter& w) { w.SetString("general.architecture", "llama"); };
  EXPECT_NE(Load(e, "arch").find("'llama'"), std::string::npos) << Load(e, "arch");

  e = {};
  e.kv = [](GgufWriter& w) { w.Remove("gemma4.attention.sliding_window"); };
  EXPECT_NE(Load(e, "missing").find("gemma4.attention.sliding_window"), std::string::npos);

  e = {};
  e.kv = [](GgufWriter& w) { w.SetI32("gemma4.block_count", 6); };
  std::string msg = Load(e, "type");
  EXPECT_NE(msg.find("gemma4.block_count"), std::string::npos) << msg;
  EXPECT_NE(msg.find("INT32"), std::string::npos) << msg;

  e = {};
  e.kv = [](GgufWriter& w) { w.SetU32("gemma4.embedding_length", 64); };
  msg = Load(e, "width");
  EXPECT_NE(msg.find("token_embd.weight"), std::string::npos) << msg;

  e = {};
  e.keep = [](const GgufTensor& t) { return t.name != "blk.2.attn_q.weight"; };
  msg = Load(e, "tensor");
  EXPECT_NE(msg.find("blk.2.attn_q.weight"), std::string::npos) << msg;

  e = {};
  e.kv = [](GgufWriter& w) {
    w.SetU32Array("gemma4.attention.head_count_kv", std::vector<uint32_t>{2, 2, 4, 2, 2, 2});
  };
  msg = Load(e, "shape");
  EXPECT_NE(msg.find("blk.2.attn_k.weight"), std::string::npos) << msg;

  e = {};
  e.data = [](const GgufTensor& t, std::string* bytes) {
    if (t.name != "rope_freqs.weight") return false;
    bytes->assign(reinterpret_cast<const char*>(t.data), t.nbytes);
    const float two = 2.0f;
    std::memcpy(bytes->data() + 4 * 6, &two, 4);
    return true;
  };
  msg = Load(e, "rope");
  EXPECT_NE(msg.find("rope_freqs.weight[6]"), std::string::npos) << msg;

  e = {};
  e.kv = [](GgufWriter& w) {
    w.SetBoolArray("gemma4.attention.sliding_window_pattern", std::vector<bool>{true, true});
  };
  msg = Load(e, "pattern");
  EXPECT_NE(msg.find("sliding_window_pattern"), std::string::npos) << msg;
}

TEST_F(GgufErrors, AbsentLayerOutputScaleIsOne) {
  testing::GgufEdit e;
  e.keep = [](const GgufTensor& t) { return t.name != "blk.1.layer_output_scale.weight"; };
  const std::string p = TmpPath("no_scale.gguf");
  ASSERT_TRUE(testing::RewriteGguf(base_, p, e).ok());
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(p);
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<std::span<const float>> v = (*m)->weights->Vector("blk.1.layer_output_scale.weight");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0], 1.0f);
  absl::StatusOr<std::span<const float>> v0 = (*m)->weights->Vector("blk.0.layer_output_scale.weight");
  ASSERT_TRUE(v0.ok());
  EXPECT_NE((*v0)[0], 1.0f);  // the fixture's random scalar, read from the file
}

// llama.cpp's converter may store the expert bank as separate gate and up
// tensors; the loader must give the same logits as with the fused bank.
TEST(GgufExperts, SplitGateUpEqualsFused) {
  const std::string fused = TmpPath("moe.fused.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir("moe_style"), fused, FileType::kF32).ok());
  absl::StatusOr<std::unique_ptr<GgufReader>> g = GgufReader::Open(fused);
  ASSERT_TRUE(g.ok());
  GgufWriter w;
  for (const GgufKV& kv : (*g)->kvs()) w.CopyKV(kv);
  struct Part {
    const GgufTensor* t;
    int half;  // -1 whole, 0 gate, 1 up
  };
  std::vector<Part> parts;
  for (const GgufTensor& t : (*g)->tensors()) {
    std::string n(t.name);
    const size_t pos = n.find("ffn_gate_up_exps");
    if (pos == std::string::npos) {
      parts.push_back({&t, -1});
      ASSERT_TRUE(w.AddTensor(n, t.type, std::span<const int64_t>(t.ne.data(), t.n_dims)).ok());
      continue;
    }
    const int64_t ne[3] = {t.ne[0], t.ne[1] / 2, t.ne[2]};
    for (int h = 0; h < 2; ++h) {
      std::string part = n.substr(0, pos) + (h == 0 ? "ffn_gate_exps" : "ffn_up_exps") + n.substr(pos + 16);
      parts.push_back({&t, h});
      ASSERT_TRUE(w.AddTensor(part, t.type, std::span<const int64_t>(ne, 3)).ok());
    }
  }
  const std::string split = TmpPath("moe.split.gguf");
  ASSERT_TRUE(w.WriteFile(split, [&](size_t i, const GgufTensorSpec& s, GgufSink& out) -> absl::Status {
                 const Part& p = parts[i];
                 if (p.half < 0) return out.Write(p.t->data, s.nbytes);
                 const size_t half = s.nbytes / static_cast<size_t>(p.t->ne[2]);  // one expert's gate (or up)
                 for (int64_t e = 0; e < p.t->ne[2]; ++e) {
                   absl::Status st = out.Write(p.t->data + (2 * e + p.half) * half, half);
                   if (!st.ok()) return st;
                 }
                 return absl::OkStatus();
               }).ok());
  absl::StatusOr<testing::Cases> c = testing::LoadCases("moe_style");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<std::vector<float>> a = testing::ModelLogits(fused, c->tokens);
  absl::StatusOr<std::vector<float>> b = testing::ModelLogits(split, c->tokens);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(testing::MaxAbsDiff(a->data(), b->data(), a->size()), 0.0);
}

TEST(GgufDetect, MagicOrExtension) {
  const std::string p = TmpPath("noext_model");
  ASSERT_TRUE(testing::Quantize(FixtureDir("dense_style"), p, FileType::kF32).ok());
  EXPECT_TRUE(IsGgufFile(p));
  EXPECT_FALSE(IsGgufFile(FixtureDir("dense_style")));
  EXPECT_FALSE(IsGgufFile(FixtureDir("dense_style") + "/config.json"));
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(p);
  EXPECT_TRUE(m.ok()) << m.status();
}

}  // namespace
}  // namespace sov
