// Test helpers (header only, for *_test.cc files): a WeightProvider backed by
// std::vectors, and a tiny Gemma-4-shaped model with random weights built
// through the GraphBuilder (sliding + full layers, KV sharing, PLE, an
// optional MoE layer), used by the graph and executor tests.
#ifndef SOV_GRAPH_TEST_UTIL_H_
#define SOV_GRAPH_TEST_UTIL_H_

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "graph/builder.h"
#include "graph/weight_provider.h"

namespace sov::graph::testing {

class VectorWeights : public WeightProvider {
 public:
  void AddMatrix(const std::string& name, int64_t rows, int64_t cols, std::vector<float> data) {
    mats_[name] = Mat{rows, cols, std::move(data)};
  }
  void AddRandomMatrix(const std::string& name, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> d(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (float& x : v) x = d(rng);
    AddMatrix(name, rows, cols, std::move(v));
  }
  void AddVector(const std::string& name, std::vector<float> v) { vecs_[name] = std::move(v); }
  void AddRandomVector(const std::string& name, int64_t n, std::mt19937& rng, float mean,
                       float sd) {
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    AddVector(name, std::move(v));
  }
  void AddRandomStack(const std::string& name, int64_t n, int64_t rows, int64_t cols,
                      std::mt19937& rng) {
    for (int64_t e = 0; e < n; ++e) AddRandomMatrix(absl::StrCat(name, "#", e), rows, cols, rng);
    stacks_[name] = n;
  }

  absl::StatusOr<kernels::WeightView> Matrix(std::string_view name) const override {
    auto it = mats_.find(std::string(name));
    if (it == mats_.end())
      return absl::NotFoundError(absl::StrCat("no matrix ", std::string(name)));
    return View(it->second);
  }
  absl::StatusOr<std::span<const float>> Vector(std::string_view name) const override {
    auto it = vecs_.find(std::string(name));
    if (it == vecs_.end())
      return absl::NotFoundError(absl::StrCat("no vector ", std::string(name)));
    return std::span<const float>(it->second);
  }
  absl::StatusOr<std::vector<kernels::WeightView>> MatrixStack(
      std::string_view name) const override {
    auto it = stacks_.find(std::string(name));
    if (it == stacks_.end())
      return absl::NotFoundError(absl::StrCat("no stack ", std::string(name)));
    std::vector<kernels::WeightView> out;
    for (int64_t e = 0; e < it->second; ++e) {
      out.push_back(View(mats_.at(absl::StrCat(std::string(name), "#", e))));
    }
    return out;
  }

 private:
  struct Mat {
    int64_t rows, cols;
    std::vector<float> data;
  };
  static kernels::WeightView View(const Mat& m) {
    kernels::WeightView v;
    v.data = m.data.data();
    v.dtype = DType::kF32;
    v.rows = m.rows;
    v.cols = m.cols;
    v.row_bytes = static_cast<size_t>(m.cols) * sizeof(float);
    return v;
  }
  std::map<std::string, Mat> mats_;
  std::map<std::string, std::vector<float>> vecs_;
  std::map<std::string, int64_t> stacks_;
};

struct TinyConfig {
  int64_t vocab = 48;
  int64_t hidden = 32;
  int64_t n_q_heads = 2;
  int64_t n_kv_heads = 1;
  int64_t head_dim = 16;
  int64_t ffn = 48;
  int64_t window = 4;
  int64_t ple = 8;  // 0: no PLE
  std::vector<AttnKind> layers = {AttnKind::kSliding, AttnKind::kSliding, AttnKind::kFull,
                                  AttnKind::kSliding, AttnKind::kSliding, AttnKind::kFull};
  int32_t n_shared = 2;   // last layers reading an earlier layer's cache
  int32_t moe_layer = 1;  // layer with routed experts (-1: none)
  int64_t n_experts = 4, top_k = 2, moe_ffn = 16;
  bool last_row_only = false;
  float softcap = 30.0f;
  bool tap_post_attn_norm = false;  // taps a value fusion would otherwise eliminate
};

inline std::vector<float> TinyInvFreq(int64_t head_dim, bool full) {
  std::vector<float> f(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    // Full layers: "proportional" RoPE, only the first quarter rotates.
    const bool rot = !full || i < head_dim / 8;
    f[i] = rot ? static_cast<float>(std::pow(full ? 1e6 : 1e4, -2.0 * i / head_dim)) : 0.0f;
  }
  return f;
}

inline void AddTinyWeights(const TinyConfig& c, uint32_t seed, VectorWeights* w) {
  std::mt19937 rng(seed);
  const int64_t H = c.hidden, L = static_cast<int64_t>(c.layers.size()), P = c.ple;
  const int64_t d = c.head_dim;
  w->AddRandomMatrix("embed", c.vocab, H, rng);
  w->AddRandomVector("final_norm", H, rng, 1.0f, 0.1f);
  if (P > 0) {
    w->AddRandomMatrix("ple_embed", c.vocab, L * P, rng);
    w->AddRandomMatrix("ple_model_proj", L * P, H, rng);
    w->AddRandomVector("ple_proj_norm", P, rng, 1.0f, 0.1f);
  }
  for (int64_t l = 0; l < L; ++l) {
    auto n = [&](const char* s) { return absl::StrCat("blk.", l, ".", s); };
    for (const char* s : {"attn_norm", "post_attn_norm", "ffn_norm", "post_ffn_norm", "ple_post"}) {
      w->AddRandomVector(n(s), H, rng, 1.0f, 0.1f);
    }
    w->AddRandomVector(n("q_norm"), d, rng, 1.0f, 0.1f);
    w->AddRandomVector(n("k_norm"), d, rng, 1.0f, 0.1f);
    w->AddVector(n("layer_scalar"), {0.5f + 0.1f * static_cast<float>(l)});
    w->AddRandomMatrix(n("q"), c.n_q_heads * d, H, rng);
    w->AddRandomMatrix(n("k"), c.n_kv_heads * d, H, rng);
    w->AddRandomMatrix(n("v"), c.n_kv_heads * d, H, rng);
    w->AddRandomMatrix(n("o"), H, c.n_q_heads * d, rng);
    w->AddRandomMatrix(n("gate"), c.ffn, H, rng);
    w->AddRandomMatrix(n("up"), c.ffn, H, rng);
    w->AddRandomMatrix(n("down"), H, c.ffn, rng);
    if (P > 0) {
      w->AddRandomMatrix(n("ple_gate"), P, H, rng);
      w->AddRandomMatrix(n("ple_proj"), H, P, rng);
    }
    if (l == c.moe_layer) {
      w->AddRandomVector(n("router_scale"), H, rng, 1.0f, 0.1f);
      w->AddRandomMatrix(n("router"), c.n_experts, H, rng);
      w->AddRandomVector(n("expert_scale"), c.n_experts, rng, 1.0f, 0.1f);
      w->AddRandomStack(n("gate_up"), c.n_experts, 2 * c.moe_ffn, H, rng);
      w->AddRandomStack(n("down_exps"), c.n_experts, H, c.moe_ffn, rng);
      w->AddRandomVector(n("pre_ffn_norm_2"), H, rng, 1.0f, 0.1f);
      w->AddRandomVector(n("post_ffn_norm_1"), H, rng, 1.0f, 0.1f);
      w->AddRandomVector(n("post_ffn_norm_2"), H, rng, 1.0f, 0.1f);
    }
  }
}

// The graph of TinyConfig, written like a model builder would.
inline absl::StatusOr<Graph> BuildTiny(const TinyConfig& c) {
  const int64_t H = c.hidden, L = static_cast<int64_t>(c.layers.size()), P = c.ple;
  const int64_t d = c.head_dim, nq = c.n_q_heads, nkv = c.n_kv_heads;
  const float eps = 1e-6f;
  GraphBuilder b("tiny");
  ValueRef ids = b.TokenIds();
  ValueRef x = b.Embed(ids, "embed", H, std::sqrt(static_cast<float>(H)), "embed");
  b.Tap(x, "embed");
  ValueRef ple;
  if (P > 0) {
    ValueRef tok = b.Embed(ids, "ple_embed", L * P, std::sqrt(static_cast<float>(P)), "ple_tok");
    ValueRef ctx = b.MatMul(x, "ple_model_proj", L * P, "ple_ctx");
    ple = b.PleAssemble(ctx, tok, L, P, "ple_proj_norm", eps, 1.0f / std::sqrt(float(H)),
                        1.0f / std::sqrt(2.0f), "ple");
  }
  std::vector<KvCacheRef> caches;
  const int32_t first_shared = static_cast<int32_t>(L) - c.n_shared;
  for (int32_t l = 0; l < L; ++l) {
    caches.push_back(l < first_shared ? b.DeclareKvCache(l, c.layers[l], c.window, nkv, d)
                                      : b.ShareKvCache(l, c.layers[l]));
  }
  for (int32_t l = 0; l < L; ++l) {
    b.SetLayer(l);
    auto n = [&](const char* s) { return absl::StrCat("blk.", l, ".", s); };
    const bool full = c.layers[l] == AttnKind::kFull;
    const std::vector<float> inv = TinyInvFreq(d, full);
    ValueRef a = b.RMSNorm(x, n("attn_norm"), eps, 0, "attn_norm");
    ValueRef q = b.MatMul(a, n("q"), nq * d, "attn_q");
    q = b.RMSNorm(q, n("q_norm"), eps, d, "q_norm");
    q = b.RoPE(q, nq, d, inv, "q_rope");
    if (l < first_shared) {
      ValueRef k = b.MatMul(a, n("k"), nkv * d, "attn_k");
      ValueRef v = b.MatMul(a, n("v"), nkv * d, "attn_v");
      k = b.RMSNorm(k, n("k_norm"), eps, d, "k_norm");
      k = b.RoPE(k, nkv, d, inv, "k_rope");
      v = b.RMSNorm(v, "", eps, d, "v_norm");
      b.KvStore(caches[l], k, v, "kv_store");
    }
    ValueRef o = b.Attention(q, caches[l], nq, 1.0f, "attn");
    ValueRef y = b.MatMul(o, n("o"), H, "attn_out");
    y = b.RMSNorm(y, n("post_attn_norm"), eps, 0, "post_attn_norm");
    if (c.tap_post_attn_norm) b.Tap(y, "post_attn_norm");
    x = b.Add(x, y, "attn_residual");
    ValueRef f = b.RMSNorm(x, n("ffn_norm"), eps, 0, "ffn_norm");
    ValueRef g = b.MatMul(f, n("gate"), c.ffn, "ffn_gate");
    ValueRef u = b.MatMul(f, n("up"), c.ffn, "ffn_up");
    ValueRef m = b.MatMul(b.GeluMul(g, u, "ffn_geglu"), n("down"), H, "ffn_down");
    if (l == c.moe_layer) {
      m = b.RMSNorm(m, n("post_ffn_norm_1"), eps, 0, "post_ffn_norm_1");
      ValueRef z = b.RMSNorm(x, n("router_scale"), eps, 0, "router_norm");
      z = b.ScaleBy(z, 1.0f / std::sqrt(static_cast<float>(H)), "router_root");
      ValueRef logits = b.MatMul(z, n("router"), c.n_experts, "router");
      MoeRouteResult r = b.MoeRoute(logits, c.top_k, n("expert_scale"), "moe_route");
      ValueRef f2 = b.RMSNorm(x, n("pre_ffn_norm_2"), eps, 0, "pre_ffn_norm_2");
      ValueRef m2 =
          b.MoeExperts(f2, r, n("gate_up"), n("down_exps"), c.n_experts, c.moe_ffn, "moe_experts");
      m2 = b.RMSNorm(m2, n("post_ffn_norm_2"), eps, 0, "post_ffn_norm_2");
      m = b.Add(m, m2, "moe_sum");
    }
    m = b.RMSNorm(m, n("post_ffn_norm"), eps, 0, "post_ffn_norm");
    x = b.Add(x, m, "ffn_residual");
    if (P > 0) {
      ValueRef pli = b.ColSlice(ple, l * P, P, "ple_slice");
      ValueRef pg = b.MatMul(x, n("ple_gate"), P, "ple_gate");
      pg = b.GeluMul(pg, pli, "ple_geglu");
      ValueRef py = b.MatMul(pg, n("ple_proj"), H, "ple_proj");
      py = b.RMSNorm(py, n("ple_post"), eps, 0, "ple_post_norm");
      x = b.Add(x, py, "ple_residual");
    }
    x = b.ScaleByWeight(x, n("layer_scalar"), "layer_scalar");
    b.Tap(x, "resid");
  }
  b.SetLayer(-1);
  if (c.last_row_only) x = b.LastRow(x, "last_row");
  ValueRef h = b.RMSNorm(x, "final_norm", eps, 0, "final_norm");
  ValueRef logits = b.MatMul(h, "embed", c.vocab, "lm_head");
  if (c.softcap > 0) logits = b.Softcap(logits, c.softcap, "softcap");
  b.Output("logits", logits);
  return std::move(b).Finish();
}

}  // namespace sov::graph::testing

#endif  // SOV_GRAPH_TEST_UTIL_H_
