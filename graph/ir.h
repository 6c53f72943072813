// The graph IR: what a model builder produces and the compiler passes rewrite.
//
// A Graph describes ONE forward step over T tokens (T symbolic: the same graph
// is compiled for a prefill bucket of T_max rows and for decode with T = 1).
//
//  * Values are 2-D activations [rows, cols], float32 (or int32 for token ids
//    and MoE expert indices). `rows` is kTokenRows (= T of the step) or a static
//    count (1 after LastRow). A value may be a *view*: columns
//    [col_offset, col_offset + cols) of another value (`base`), e.g. the
//    per-layer PLE slice or a q/k/v split; views share the base's storage and
//    row stride.
//  * Nodes are ops in execution order (the builder appends them in program
//    order; no pass reorders them, so side effects such as KvStore before the
//    Attention that reads the cache stay ordered).
//  * Weights are referenced by name only (the model's own naming, e.g.
//    "blk.3.attn_q.weight"); a WeightProvider resolves them when the graph is
//    lowered, so the graph never sees files.
//  * KV caches are declared per owning layer; a KV-shared layer declares a cache
//    whose donor is resolved by the KV-share pass (graph/passes/kv_share.cc).
#ifndef SOV_GRAPH_IR_H_
#define SOV_GRAPH_IR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sov::graph {

// Row count of a value whose rows follow the step's token count T.
inline constexpr int64_t kTokenRows = -1;
inline constexpr int32_t kNoValue = -1;

// Handle to a value of the graph under construction (index into Graph::values).
struct ValueRef {
  int32_t id = kNoValue;
  bool valid() const { return id >= 0; }
  friend bool operator==(ValueRef a, ValueRef b) { return a.id == b.id; }
};

// Handle to a declared KV cache (index into Graph::caches).
struct KvCacheRef {
  int32_t id = -1;
  bool valid() const { return id >= 0; }
};

enum class ElemType : int8_t { kF32, kI32 };

struct Value {
  std::string name;  // producer node name (+ ":n" for a node's n-th output)
  ElemType type = ElemType::kF32;
  int64_t rows = kTokenRows;  // kTokenRows or a static row count >= 1
  int64_t cols = 0;
  int32_t base = kNoValue;  // for views: the value whose columns this is
  int64_t col_offset = 0;   // for views: first column within `base`
  int32_t producer = -1;    // node index (-1 for graph inputs)
  bool is_view() const { return base != kNoValue; }
};

enum class OpKind : int8_t {
  kTokenIds,     // graph input: int32 token ids [T, 1]
  kView,         // column slice of `inputs[0]` (no data movement)
  kEmbed,        // out[t] = table[ids[t]] * scale
  kMatMul,       // out = x . W^T           (weights[0] = W [out, in])
  kRMSNorm,      // per group of group_dim columns; weights[0] may be empty (no weight)
  kRoPE,         // NeoX RoPE, n_heads x head_dim, inv_freq constant; pos = pos0 + t
  kKvStore,      // append k (inputs[0]) and v (inputs[1]) to cache `cache`
  kAttention,    // q (inputs[0]) against cache `cache` (window/heads from the cache)
  kGeluMul,      // gelu_tanh(gate) * up
  kAdd,          // a + b
  kScaleBy,      // x * scale, or x * weights[0][0] when a weight is named
  kSoftcap,      // cap * tanh(x / cap)
  kPleAssemble,  // (RMSNorm(ctx * ctx_scale; w) + tok) * out_scale per P-slice
  kMoeRoute,    // logits -> (idx int32 [T, k], w f32 [T, k]); weights[0]: per-expert scale or empty
  kMoeExperts,  // x, idx, w -> sum_j w_j expert_{idx_j}(x); weights: gate_up stack, down stack
  kLastRow,     // [T, C] -> [1, C]: keeps the last token's row
  // Fused groups (created by graph/passes/fusion.cc, never by a builder).
  kNormMatMuls,  // RMSNorm once (outputs[0]) then MatMuls outputs[1..] (weights[1..])
  kFfnUp,        // gelu_tanh(x Wg^T) * (x Wu^T) in one step (weights: Wg, Wu)
  kAddRMSNorm,   // x += RMSNorm(delta; w_post) in place; optional y = RMSNorm(x; w_next)
};

const char* OpName(OpKind op);

enum class AttnKind : int8_t { kSliding, kFull };

struct KvCacheDecl {
  int32_t layer = -1;
  AttnKind kind = AttnKind::kFull;
  int64_t window = 0;  // sliding: keys with 0 <= q - k < window (window includes the query)
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  bool shared = false;  // true: owns no storage, reads `donor`'s cache
  int32_t donor = -1;   // for shared caches: index of the owning KvCacheDecl (set by the pass)
  int64_t row_width() const { return n_kv_heads * head_dim; }
};

struct Node {
  OpKind op = OpKind::kMatMul;
  std::string name;              // e.g. "attn_q"; unique names are not required
  int32_t layer = -1;            // decoder layer the node belongs to, -1 outside the layer stack
  std::vector<int32_t> inputs;   // value ids
  std::vector<int32_t> outputs;  // value ids
  std::vector<std::string> weights;  // weight names ("" = none in an optional slot)
  int32_t cache = -1;                // KvStore / Attention

  // Attributes (meaning depends on op; unused ones stay zero).
  float eps = 0.0f;             // RMSNorm family, PleAssemble
  float scale = 1.0f;           // Embed, ScaleBy, Attention, PleAssemble (ctx_scale)
  float scale2 = 1.0f;          // PleAssemble (out_scale)
  float cap = 0.0f;             // Softcap
  int64_t group_dim = 0;        // RMSNorm: columns per normalised group (== cols for a plain norm)
  int64_t n_heads = 0;          // RoPE heads, Attention query heads
  int64_t head_dim = 0;         // RoPE
  int64_t n_layers = 0;         // PleAssemble L
  int64_t per_layer = 0;        // PleAssemble P
  int64_t top_k = 0;            // MoeRoute / MoeExperts
  int64_t n_experts = 0;        // MoeExperts
  int64_t intermediate = 0;     // MoeExperts
  std::vector<float> inv_freq;  // RoPE: head_dim / 2 frequencies (0 = identity)
  // RoPE, llama.cpp's parametrisation of the same frequencies (0: none given):
  // inv_freq[i] = freq_scale * rope_base^(-2i / head_dim). The "ggml" numerics
  // evaluate the angles from these the way ggml does (kernels/cpu/rope_ggml.h).
  float rope_base = 0.0f, rope_freq_scale = 1.0f;
  // Fused nodes: the names of the nodes they replaced, for dumps and taps.
  std::vector<std::string> fused_from;
};

struct OutputDecl {
  std::string name;  // e.g. "logits"
  int32_t value = kNoValue;
};

// A named value the executor may record after it is computed (e.g. the
// residual stream after each layer), for fixture comparison and divergence
// search. Fusion never removes a tapped value.
struct TapDecl {
  std::string name;
  int32_t layer = -1;
  int32_t value = kNoValue;
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<KvCacheDecl> caches;
  std::vector<OutputDecl> outputs;
  std::vector<TapDecl> taps;

  // Human-readable listing of nodes with value shapes (for errors and tests).
  std::string ToString() const;
  // "T" or the static count.
  static std::string RowsName(int64_t rows);
  // Root of a view chain (the value owning storage).
  int32_t Root(int32_t v) const;
};

}  // namespace sov::graph

#endif  // SOV_GRAPH_IR_H_
