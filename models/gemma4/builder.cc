#include "models/gemma4/builder.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/gemma4/tensor_table.h"

namespace sov::gemma4 {
namespace {

using graph::AttnKind;
using graph::GraphBuilder;
using graph::KvCacheRef;
using graph::ValueRef;
using T = TensorId;

// Shorthand for the graph-level weight name of a table entry.
std::string W(T id, int64_t layer = -1) { return GgufName(id, layer); }

AttnKind Kind(LayerType t) { return t == LayerType::kFull ? AttnKind::kFull : AttnKind::kSliding; }

// Gated GELU-tanh MLP: down(gelu_tanh(x Wg^T) * (x Wu^T)).        [T, H] -> [T, H]
ValueRef DenseMlp(GraphBuilder& b, ValueRef x, const ModelConfig& c, int64_t l) {
  const int64_t I = c.layers[l].ffn_dim;
  ValueRef gate = b.MatMul(x, W(T::kGateProj, l), I, "ffn_gate");   // [T, I]
  ValueRef up = b.MatMul(x, W(T::kUpProj, l), I, "ffn_up");         // [T, I]
  ValueRef h = b.GeluMul(gate, up, "ffn_geglu");                    // [T, I]
  return b.MatMul(h, W(T::kDownProj, l), c.hidden_size, "ffn_down");  // [T, H]
}

// Attention half of layer l (spec §2.5). Returns the new residual stream.
ValueRef AttentionBlock(GraphBuilder& b, ValueRef x, const ModelConfig& c, int64_t l,
                        const std::vector<KvCacheRef>& caches, bool debug_taps) {
  const LayerConfig& lc = c.layers[l];
  const int64_t d = lc.head_dim;
  const int64_t nq = c.num_heads;
  const int64_t nkv = lc.n_kv_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const std::vector<float> inv_freq = RopeInvFreq(c.rope(lc.type), d);

  ValueRef a = b.RMSNorm(x, W(T::kAttnNorm, l), eps, 0, "attn_norm");  // [T, H]
  ValueRef q = b.MatMul(a, W(T::kQProj, l), nq * d, "attn_q");         // [T, nq*d]
  q = b.RMSNorm(q, W(T::kQNorm, l), eps, d, "attn_q_norm");            // per head over d
  q = b.RoPE(q, nq, d, inv_freq, "attn_q_rope");
  if (debug_taps) b.Tap(q, "attn_q");

  if (lc.owns_kv) {
    ValueRef kr = b.MatMul(a, W(T::kKProj, l), nkv * d, "attn_k");  // [T, nkv*d], raw K
    // K=V layers: V is the raw K projection, before k_norm and RoPE (pitfall 13).
    ValueRef vr = lc.k_eq_v ? kr : b.MatMul(a, W(T::kVProj, l), nkv * d, "attn_v");
    ValueRef k = b.RMSNorm(kr, W(T::kKNorm, l), eps, d, "attn_k_norm");
    k = b.RoPE(k, nkv, d, inv_freq, "attn_k_rope");
    ValueRef v = b.RMSNorm(vr, "", eps, d, "attn_v_norm");  // weightless, no RoPE
    b.KvStore(caches[l], k, v, "kv_store");
  }
  // Scale 1.0: the q/k norms replace 1/sqrt(d) (pitfall 2).
  ValueRef o = b.Attention(q, caches[l], nq, 1.0f, "attn");                     // [T, nq*d]
  if (debug_taps) b.Tap(o, "attn_out");
  ValueRef y = b.MatMul(o, W(T::kOProj, l), c.hidden_size, "attn_output");      // [T, H]
  y = b.RMSNorm(y, W(T::kPostAttnNorm, l), eps, 0, "post_attn_norm");
  ValueRef r = b.Add(x, y, "attn_residual");  // [T, H]
  if (debug_taps) b.Tap(r, "attn_resid");
  return r;
}

// Feed-forward half (spec §2.6): dense MLP, or dense MLP + routed experts.
ValueRef FeedForwardBlock(GraphBuilder& b, ValueRef r, const ModelConfig& c, int64_t l) {
  const LayerConfig& lc = c.layers[l];
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int64_t H = c.hidden_size;

  ValueRef f = b.RMSNorm(r, W(T::kPreFfnNorm, l), eps, 0, "ffn_norm");  // [T, H]
  ValueRef m = DenseMlp(b, f, c, l);                                    // [T, H]
  if (lc.moe) {
    m = b.RMSNorm(m, W(T::kPostFfnNorm1, l), eps, 0, "post_ffn_norm_1");
    // Router on the RAW residual with its own weightless norm (pitfall 14):
    // z = rms(r) * router.scale * H^-1/2.
    // rms(r) * scale equals HF's weightless norm followed by "* scale".
    ValueRef z = b.RMSNorm(r, W(T::kRouterScale, l), eps, 0, "router_norm");
    z = b.ScaleBy(z, static_cast<float>(std::pow(static_cast<double>(H), -0.5)), "router_root");
    ValueRef logits = b.MatMul(z, W(T::kRouterProj, l), c.num_experts, "router");  // [T, E]
    graph::MoeRouteResult route =
        b.MoeRoute(logits, c.top_k_experts, W(T::kRouterPerExpertScale, l), "moe_route");
    ValueRef f2 = b.RMSNorm(r, W(T::kPreFfnNorm2, l), eps, 0, "pre_ffn_norm_2");
    ValueRef m2 = b.MoeExperts(f2, route, W(T::kExpertsGateUp, l), W(T::kExpertsDown, l),
                               c.num_experts, c.moe_intermediate_size, "moe_experts");  // [T, H]
    m2 = b.RMSNorm(m2, W(T::kPostFfnNorm2, l), eps, 0, "post_ffn_norm_2");
    m = b.Add(m, m2, "moe_sum");
  }
  m = b.RMSNorm(m, W(T::kPostFfnNorm, l), eps, 0, "post_ffn_norm");
  return b.Add(r, m, "ffn_residual");  // [T, H]
}

}  // namespace

absl::StatusOr<graph::Graph> BuildGraph(const ModelConfig& c, const BuildOptions& opt) {
  if (c.num_layers <= 0 || c.layers.size() != static_cast<size_t>(c.num_layers))
    return absl::FailedPreconditionError("BuildGraph: config is not finalized");
  const int64_t H = c.hidden_size;
  const int64_t L = c.num_layers;
  const int64_t P = c.ple_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);

  GraphBuilder b("gemma4");
  ValueRef ids = b.TokenIds();  // [T, 1]

  // Token embedding x sqrt(H), fp32 exact (§2.3).
  ValueRef x = b.Embed(ids, W(T::kEmbedTokens), H, c.embed_scale(), "embed");  // [T, H]
  b.Tap(x, "embed");

  // Per-Layer Embeddings (§2.4): (RMSNorm(E x W_plmp^T * H^-1/2) + E_ple[id] * sqrt(P)) / sqrt(2).
  ValueRef ple;
  if (c.has_ple()) {
    ValueRef tok = b.Embed(ids, W(T::kPleEmbed), L * P,
                           static_cast<float>(std::sqrt(static_cast<double>(P))),
                           "ple_token");                                     // [T, L*P]
    ValueRef ctx = b.MatMul(x, W(T::kPleModelProj), L * P, "ple_model_proj");  // [T, L*P]
    ple = b.PleAssemble(ctx, tok, L, P, W(T::kPleProjNorm), eps,
                        static_cast<float>(std::pow(static_cast<double>(H), -0.5)),
                        static_cast<float>(std::pow(2.0, -0.5)), "ple");      // [T, L*P]
    b.Tap(ple, "ple");
  }

  // KV caches: owners declare storage, shared layers read their donor's.
  std::vector<KvCacheRef> caches(L);
  for (int64_t l = 0; l < L; ++l) {
    const LayerConfig& lc = c.layers[l];
    b.SetLayer(static_cast<int32_t>(l));
    caches[l] = lc.owns_kv
                    ? b.DeclareKvCache(static_cast<int32_t>(l), Kind(lc.type),
                                       lc.type == LayerType::kSliding ? c.sliding_window : 0,
                                       lc.n_kv_heads, lc.head_dim)
                    : b.ShareKvCache(static_cast<int32_t>(l), Kind(lc.type));
  }

  for (int64_t l = 0; l < L; ++l) {
    b.SetLayer(static_cast<int32_t>(l));
    x = AttentionBlock(b, x, c, l, caches, opt.debug_taps);  // [T, H]
    x = FeedForwardBlock(b, x, c, l);        // [T, H]
    if (opt.debug_taps) b.Tap(x, "ffn_resid");
    if (c.has_ple()) {
      // PLE injection (§2.8): x += RMSNorm(proj(gelu_tanh(x Wg^T) * PLI[:, l]); post_norm).
      ValueRef pli = b.ColSlice(ple, l * P, P, "ple_slice");              // [T, P]
      ValueRef g = b.MatMul(x, W(T::kPleGate, l), P, "ple_gate");         // [T, P]
      g = b.GeluMul(g, pli, "ple_geglu");                                 // [T, P]
      ValueRef y = b.MatMul(g, W(T::kPleProj, l), H, "ple_proj");         // [T, H]
      y = b.RMSNorm(y, W(T::kPlePostNorm, l), eps, 0, "ple_post_norm");
      x = b.Add(x, y, "ple_residual");
    }
    // The whole residual stream, every variant (pitfall 8).
    x = b.ScaleByWeight(x, W(T::kLayerScalar, l), "layer_scalar");
    b.Tap(x, "resid");
  }

  b.SetLayer(-1);
  if (opt.last_row_only) x = b.LastRow(x, "last_row");  // [1, H]
  ValueRef h = b.RMSNorm(x, W(T::kFinalNorm), eps, 0, "output_norm");
  b.Tap(h, "final_norm");
  // Tied: the unscaled embedding table is the LM head (§2.9).
  const std::string head = c.tie_word_embeddings ? W(T::kEmbedTokens) : W(T::kLmHead);
  ValueRef logits = b.MatMul(h, head, c.vocab_size, "lm_head");  // [T, V]
  if (c.final_logit_softcapping > 0.0)
    logits = b.Softcap(logits, static_cast<float>(c.final_logit_softcapping), "softcap");
  b.Output("logits", logits);
  return std::move(b).Finish();
}

}  // namespace sov::gemma4
