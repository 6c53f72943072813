// GraphBuilder: the API a model builder (models/<arch>/) uses to describe one
// forward step. One method per op; each appends a node in program order and
// returns the handle of its result. Widths are NOT checked here (the builder
// does not know weight shapes): graph/passes/shape_inference.cc checks every
// op against its inputs and the resolved weights and names the node and value
// in its errors. Invalid handles (e.g. a default ValueRef) are recorded and
// reported by Finish().
//
// Sketch of a Gemma 4 layer (spec gemma4.md §2.5-2.8):
//
//   GraphBuilder b("gemma4");
//   ValueRef ids = b.TokenIds();
//   ValueRef x = b.Embed(ids, "token_embd.weight", H, embed_scale, "embed");   // [T, H]
//   KvCacheRef c0 = b.DeclareKvCache(0, AttnKind::kSliding, 512, nkv, 256);
//   b.SetLayer(0);
//   ValueRef a = b.RMSNorm(x, "blk.0.attn_norm.weight", 1e-6f, 0, "attn_norm");
//   ValueRef q = b.MatMul(a, "blk.0.attn_q.weight", nq * d, "attn_q");    // [T, nq*d]
//   q = b.RMSNorm(q, "blk.0.attn_q_norm.weight", 1e-6f, d, "q_norm");      // per head
//   q = b.RoPE(q, nq, d, inv_freq, "q_rope");
//   ... k, v likewise; b.KvStore(c0, k, v, "kv_store");
//   ValueRef o = b.Attention(q, c0, nq, 1.0f, "attn");
//   ...
//   b.Tap(x, "resid");                        // residual after layer 0
//   b.SetLayer(-1);
//   ValueRef logits = b.MatMul(b.LastRow(h), "token_embd.weight", V, "lm_head");
//   b.Output("logits", b.Softcap(logits, 30.0f));
//   absl::StatusOr<Graph> g = b.Finish();
//
// A KV-shared layer (spec §2.5.6) calls ShareKvCache(l, kind) and uses the
// returned handle for Attention only; the donor cache is found by the HF rule
// in ResolveKvSharing (graph/passes/passes.h), the one place that rule lives.
#ifndef SOV_GRAPH_BUILDER_H_
#define SOV_GRAPH_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/ir.h"

namespace sov::graph {

struct MoeRouteResult {
  ValueRef idx;  // int32 [T, k]: expert ids, descending probability
  ValueRef w;    // f32 [T, k]: renormalised weights (times per-expert scale)
};

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string graph_name = "");

  // Decoder layer recorded on subsequently added nodes (and taps); -1 = none.
  void SetLayer(int32_t layer) { layer_ = layer; }
  int32_t layer() const { return layer_; }

  // ---- Inputs and caches ---------------------------------------------------
  // The step's token ids, int32 [T, 1]. Call once.
  ValueRef TokenIds();

  // A KV cache owned by `layer`: rows of n_kv_heads * head_dim floats for K and
  // V. `window` is the sliding window (keys with 0 <= q - k < window) for
  // kSliding, ignored (0) for kFull.
  KvCacheRef DeclareKvCache(int32_t layer, AttnKind kind, int64_t window, int64_t n_kv_heads,
                            int64_t head_dim);
  // A KV-shared layer: owns no storage and reads the cache of the last
  // non-shared layer of the same kind before the first shared layer (resolved
  // at compile time). Geometry (heads, head_dim, window) comes from the donor.
  KvCacheRef ShareKvCache(int32_t layer, AttnKind kind);

  // ---- Ops --------------------------------------------------------------------
  // [T, cols] = table[ids[t]] * scale (table: a [V, cols] matrix).
  ValueRef Embed(ValueRef ids, std::string_view table, int64_t cols, float scale,
                 std::string_view name = "");
  // [rows(x), out_cols] = x . W^T; W must be [out_cols, cols(x)].
  ValueRef MatMul(ValueRef x, std::string_view weight, int64_t out_cols,
                  std::string_view name = "");
  // RMSNorm over each group of `group_dim` columns (0 = all columns); `weight`
  // (length group_dim) may be "" for a weightless norm.
  ValueRef RMSNorm(ValueRef x, std::string_view weight, float eps, int64_t group_dim = 0,
                   std::string_view name = "");
  // NeoX RoPE on x [T, n_heads * head_dim]; inv_freq has head_dim / 2 entries.
  ValueRef RoPE(ValueRef x, int64_t n_heads, int64_t head_dim, std::vector<float> inv_freq,
                std::string_view name = "");
  // The same, also recording llama.cpp's form of the frequencies (Node::rope_base):
  // inv_freq[i] == freq_scale * base^(-2i / head_dim).
  ValueRef RoPE(ValueRef x, int64_t n_heads, int64_t head_dim, std::vector<float> inv_freq,
                float base, float freq_scale, std::string_view name);
  // Appends this step's k and v rows ([T, n_kv_heads * head_dim]) to `cache`.
  void KvStore(KvCacheRef cache, ValueRef k, ValueRef v, std::string_view name = "");
  // Causal (or sliding, per the cache) attention of q [T, n_q_heads * head_dim]
  // over the cache's keys; result [T, n_q_heads * head_dim].
  ValueRef Attention(ValueRef q, KvCacheRef cache, int64_t n_q_heads, float scale,
                     std::string_view name = "");
  ValueRef GeluMul(ValueRef gate, ValueRef up, std::string_view name = "");
  ValueRef Add(ValueRef a, ValueRef b, std::string_view name = "");
  ValueRef ScaleBy(ValueRef x, float scale, std::string_view name = "");
  // Multiplies by the single element of a 1-element weight (e.g. layer_scalar).
  ValueRef ScaleByWeight(ValueRef x, std::string_view scalar_weight, std::string_view name = "");
  ValueRef Softcap(ValueRef x, float cap, std::string_view name = "");
  // Columns [offset, offset + cols) of x, without copying.
  ValueRef ColSlice(ValueRef x, int64_t offset, int64_t cols, std::string_view name = "");
  // Per-Layer-Embedding assembly (kernels::PleAssemble): ctx, tok [T, L*P].
  ValueRef PleAssemble(ValueRef ctx, ValueRef tok, int64_t n_layers, int64_t per_layer,
                       std::string_view norm_weight, float eps, float ctx_scale, float out_scale,
                       std::string_view name = "");
  // Router tail on logits [T, E]; per_expert_scale ([E]) may be "".
  MoeRouteResult MoeRoute(ValueRef logits, int64_t top_k, std::string_view per_expert_scale,
                          std::string_view name = "");
  // Routed experts on x [T, H]. gate_up: a stack of E [2*I, H] matrices, down:
  // a stack of E [H, I] matrices (WeightProvider::MatrixStack).
  ValueRef MoeExperts(ValueRef x, MoeRouteResult route, std::string_view gate_up,
                      std::string_view down, int64_t n_experts, int64_t intermediate,
                      std::string_view name = "");
  // [T, C] -> [1, C]: only the last token's row (before the LM head when only
  // the last logits are wanted).
  ValueRef LastRow(ValueRef x, std::string_view name = "");

  // ---- Results ------------------------------------------------------------------
  void Output(std::string_view name, ValueRef x);
  // Lets the executor record x under `name` (layer = the current layer).
  void Tap(ValueRef x, std::string_view name);

  // The graph, or the first error recorded while building (bad handle, Output
  // missing, ...). Shape checks happen in the passes.
  absl::StatusOr<Graph> Finish() &&;

 private:
  ValueRef NewValue(std::string name, ElemType type, int64_t rows, int64_t cols, int32_t producer);
  Node& NewNode(OpKind op, std::string_view name);
  bool CheckRef(ValueRef v, std::string_view what);
  int64_t RowsOf(ValueRef v) const;
  int64_t ColsOf(ValueRef v) const;
  ValueRef Unary(OpKind op, ValueRef x, int64_t out_cols, std::string_view name);

  Graph g_;
  int32_t layer_ = -1;
  bool has_ids_ = false;
  absl::Status error_;
};

}  // namespace sov::graph

#endif  // SOV_GRAPH_BUILDER_H_
