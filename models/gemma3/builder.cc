#include "models/gemma3/builder.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "graph/builder.h"
#include "models/gemma3/tensor_table.h"

namespace sov::gemma3 {
namespace {

using graph::AttnKind;
using graph::GraphBuilder;
using graph::KvCacheRef;
using graph::ValueRef;
using T = TensorId;

std::string W(T id, int64_t layer = -1) { return GgufName(id, layer); }

// Attention half of layer l. Returns the new residual stream.       [T, H]
// With `last_row` (the last layer of a last-row-only graph) only the last
// token's row continues after the output projection, as in llama.cpp's graph
// (which selects the output rows there): the remaining ops then run on one
// row, which both saves work and gives the one-row kernels' float orders.
ValueRef AttentionBlock(GraphBuilder& b, ValueRef x, const ModelConfig& c, int64_t l,
                        KvCacheRef cache, bool last_row, bool taps) {
  auto tap = [&](ValueRef v, const char* name) {
    if (taps) b.Tap(v, name);
  };
  const int64_t d = c.head_dim, nq = c.num_heads, nkv = c.num_kv_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const std::vector<float> inv_freq = c.RopeInvFreq(l);

  ValueRef a = b.RMSNorm(x, W(T::kAttnNorm, l), eps, 0, "attn_norm");  // [T, H]
  tap(a, "attn_norm");
  ValueRef q = b.MatMul(a, W(T::kQProj, l), nq * d, "attn_q");         // [T, nq*d]
  ValueRef k = b.MatMul(a, W(T::kKProj, l), nkv * d, "attn_k");        // [T, nkv*d]
  ValueRef v = b.MatMul(a, W(T::kVProj, l), nkv * d, "attn_v");        // [T, nkv*d]
  q = b.RMSNorm(q, W(T::kQNorm, l), eps, d, "attn_q_norm");            // per head over d
  // llama.cpp's form of the same frequencies (for the "ggml" numerics' RoPE).
  const bool global = c.is_global(l);
  const float base = static_cast<float>(global ? c.rope_theta_global : c.rope_theta_sliding);
  const float fscale = global ? static_cast<float>(1.0 / c.rope_scale_global) : 1.0f;
  q = b.RoPE(q, nq, d, inv_freq, base, fscale, "attn_q_rope");
  k = b.RMSNorm(k, W(T::kKNorm, l), eps, d, "attn_k_norm");
  k = b.RoPE(k, nkv, d, inv_freq, base, fscale, "attn_k_rope");
  tap(q, "Qcur");
  tap(k, "Kcur");
  tap(v, "Vcur");
  b.KvStore(cache, k, v, "kv_store");
  // llama.cpp scales Q by 1/sqrt(query_pre_attn_scalar) and attends with scale 1;
  // the attention kernel applies the same factor to q.k, which is the same product.
  ValueRef o = b.Attention(q, cache, nq, c.query_scale(), "attn");          // [T, nq*d]
  tap(o, "kqv_out");
  ValueRef y = b.MatMul(o, W(T::kOProj, l), c.hidden_size, "attn_output");  // [T, H]
  if (last_row) {
    y = b.LastRow(y, "attn_output_last_row");  // [1, H]
    x = b.LastRow(x, "resid_last_row");
  }
  y = b.RMSNorm(y, W(T::kPostAttnNorm, l), eps, 0, "post_attn_norm");
  tap(y, "attn_post_norm");
  ValueRef r = b.Add(x, y, "attn_residual");  // [T, H]
  tap(r, "sa_out");
  return r;
}

// Feed-forward half: gated GELU-tanh MLP between two norms.          [T, H]
ValueRef FeedForwardBlock(GraphBuilder& b, ValueRef r, const ModelConfig& c, int64_t l,
                          bool taps) {
  auto tap = [&](ValueRef v, const char* name) {
    if (taps) b.Tap(v, name);
  };
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int64_t I = c.intermediate_size;
  ValueRef f = b.RMSNorm(r, W(T::kPreFfnNorm, l), eps, 0, "ffn_norm");      // [T, H]
  ValueRef gate = b.MatMul(f, W(T::kGateProj, l), I, "ffn_gate");           // [T, I]
  ValueRef up = b.MatMul(f, W(T::kUpProj, l), I, "ffn_up");                 // [T, I]
  ValueRef h = b.GeluMul(gate, up, "ffn_geglu");                            // [T, I]
  ValueRef m = b.MatMul(h, W(T::kDownProj, l), c.hidden_size, "ffn_down");  // [T, H]
  tap(f, "ffn_norm");
  tap(gate, "ffn_gate");
  tap(up, "ffn_up");
  tap(h, "ffn_geglu");
  tap(m, "ffn_out");
  m = b.RMSNorm(m, W(T::kPostFfnNorm, l), eps, 0, "post_ffn_norm");
  tap(m, "ffn_post_norm");
  return b.Add(r, m, "ffn_residual");  // [T, H]
}

}  // namespace

absl::StatusOr<graph::Graph> BuildGraph(const ModelConfig& c, const BuildOptions& opt) {
  if (c.global_layers.size() != static_cast<size_t>(c.num_layers) || c.query_pre_attn_scalar <= 0.0)
    return absl::FailedPreconditionError("gemma3::BuildGraph: config is not finalized");
  const int64_t L = c.num_layers;
  const float eps = static_cast<float>(c.rms_norm_eps);

  GraphBuilder b("gemma3");
  ValueRef ids = b.TokenIds();  // [T, 1]
  ValueRef x = b.Embed(ids, W(T::kEmbedTokens), c.hidden_size, c.embed_scale(), "embed");
  b.Tap(x, "embed");  // [T, H]

  std::vector<KvCacheRef> caches(L);
  for (int64_t l = 0; l < L; ++l) {
    b.SetLayer(static_cast<int32_t>(l));
    const bool global = c.is_global(l);
    caches[l] =
        b.DeclareKvCache(static_cast<int32_t>(l), global ? AttnKind::kFull : AttnKind::kSliding,
                         global ? 0 : c.sliding_window, c.num_kv_heads, c.head_dim);
  }
  for (int64_t l = 0; l < L; ++l) {
    b.SetLayer(static_cast<int32_t>(l));
    x = AttentionBlock(b, x, c, l, caches[l], opt.last_row_only && l == L - 1, opt.debug_taps);
    x = FeedForwardBlock(b, x, c, l, opt.debug_taps);
    b.Tap(x, "resid");
  }

  b.SetLayer(-1);
  ValueRef h = b.RMSNorm(x, W(T::kFinalNorm), eps, 0, "output_norm");
  b.Tap(h, "final_norm");
  const std::string head = c.tied_output ? W(T::kEmbedTokens) : W(T::kOutput);
  ValueRef logits = b.MatMul(h, head, c.vocab_size, "lm_head");  // [T, V]
  if (c.final_logit_softcapping > 0.0)
    logits = b.Softcap(logits, static_cast<float>(c.final_logit_softcapping), "softcap");
  b.Output("logits", logits);
  return std::move(b).Finish();
}

}  // namespace sov::gemma3
