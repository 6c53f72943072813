#include "graph/builder.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sov::graph {

GraphBuilder::GraphBuilder(std::string graph_name) { g_.name = std::move(graph_name); }

ValueRef GraphBuilder::NewValue(std::string name, ElemType type, int64_t rows, int64_t cols,
                                int32_t producer) {
  Value v;
  v.name = std::move(name);
  v.type = type;
  v.rows = rows;
  v.cols = cols;
  v.producer = producer;
  g_.values.push_back(std::move(v));
  return ValueRef{static_cast<int32_t>(g_.values.size() - 1)};
}

Node& GraphBuilder::NewNode(OpKind op, std::string_view name) {
  Node n;
  n.op = op;
  n.name = name.empty() ? std::string(OpName(op)) : std::string(name);
  n.layer = layer_;
  g_.nodes.push_back(std::move(n));
  return g_.nodes.back();
}

bool GraphBuilder::CheckRef(ValueRef v, std::string_view what) {
  if (v.id >= 0 && v.id < static_cast<int32_t>(g_.values.size())) return true;
  if (error_.ok()) {
    std::string where;
    if (!g_.nodes.empty()) where = absl::StrCat(" (after node '", g_.nodes.back().name, "')");
    error_ = absl::InvalidArgumentError(absl::StrCat("graph builder: invalid value handle ", v.id,
                                                     " passed to ", std::string(what), where));
  }
  return false;
}

int64_t GraphBuilder::RowsOf(ValueRef v) const {
  return v.valid() && v.id < static_cast<int32_t>(g_.values.size()) ? g_.values[v.id].rows
                                                                    : kTokenRows;
}
int64_t GraphBuilder::ColsOf(ValueRef v) const {
  return v.valid() && v.id < static_cast<int32_t>(g_.values.size()) ? g_.values[v.id].cols : 0;
}

ValueRef GraphBuilder::Unary(OpKind op, ValueRef x, int64_t out_cols, std::string_view name) {
  CheckRef(x, name.empty() ? OpName(op) : name);
  int64_t rows = RowsOf(x);
  Node& n = NewNode(op, name);
  const int32_t node = static_cast<int32_t>(g_.nodes.size() - 1);
  n.inputs = {x.id};
  std::string vname = n.name;
  ValueRef out = NewValue(std::move(vname), ElemType::kF32, rows, out_cols, node);
  g_.nodes[node].outputs = {out.id};
  return out;
}

ValueRef GraphBuilder::TokenIds() {
  if (has_ids_ && error_.ok()) {
    error_ = absl::InvalidArgumentError("graph builder: TokenIds() called twice");
  }
  has_ids_ = true;
  NewNode(OpKind::kTokenIds, "token_ids");
  const int32_t node = static_cast<int32_t>(g_.nodes.size() - 1);
  ValueRef v = NewValue("token_ids", ElemType::kI32, kTokenRows, 1, node);
  g_.nodes[node].outputs = {v.id};
  return v;
}

KvCacheRef GraphBuilder::DeclareKvCache(int32_t layer, AttnKind kind, int64_t window,
                                        int64_t n_kv_heads, int64_t head_dim) {
  KvCacheDecl c;
  c.layer = layer;
  c.kind = kind;
  c.window = kind == AttnKind::kSliding ? window : 0;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = head_dim;
  g_.caches.push_back(c);
  return KvCacheRef{static_cast<int32_t>(g_.caches.size() - 1)};
}

KvCacheRef GraphBuilder::ShareKvCache(int32_t layer, AttnKind kind) {
  KvCacheDecl c;
  c.layer = layer;
  c.kind = kind;
  c.shared = true;
  g_.caches.push_back(c);
  return KvCacheRef{static_cast<int32_t>(g_.caches.size() - 1)};
}

ValueRef GraphBuilder::Embed(ValueRef ids, std::string_view table, int64_t cols, float scale,
                             std::string_view name) {
  ValueRef out = Unary(OpKind::kEmbed, ids, cols, name);
  Node& n = g_.nodes.back();
  n.weights = {std::string(table)};
  n.scale = scale;
  g_.values[out.id].rows = kTokenRows;
  return out;
}

ValueRef GraphBuilder::MatMul(ValueRef x, std::string_view weight, int64_t out_cols,
                              std::string_view name) {
  ValueRef out = Unary(OpKind::kMatMul, x, out_cols, name);
  g_.nodes.back().weights = {std::string(weight)};
  return out;
}

ValueRef GraphBuilder::RMSNorm(ValueRef x, std::string_view weight, float eps, int64_t group_dim,
                               std::string_view name) {
  ValueRef out = Unary(OpKind::kRMSNorm, x, ColsOf(x), name);
  Node& n = g_.nodes.back();
  n.weights = {std::string(weight)};
  n.eps = eps;
  n.group_dim = group_dim > 0 ? group_dim : ColsOf(x);
  return out;
}

ValueRef GraphBuilder::RoPE(ValueRef x, int64_t n_heads, int64_t head_dim,
                            std::vector<float> inv_freq, std::string_view name) {
  ValueRef out = Unary(OpKind::kRoPE, x, ColsOf(x), name);
  Node& n = g_.nodes.back();
  n.n_heads = n_heads;
  n.head_dim = head_dim;
  n.inv_freq = std::move(inv_freq);
  return out;
}

ValueRef GraphBuilder::RoPE(ValueRef x, int64_t n_heads, int64_t head_dim,
                            std::vector<float> inv_freq, float base, float freq_scale,
                            std::string_view name) {
  ValueRef out = RoPE(x, n_heads, head_dim, std::move(inv_freq), name);
  Node& n = g_.nodes.back();
  n.rope_base = base;
  n.rope_freq_scale = freq_scale;
  return out;
}

void GraphBuilder::KvStore(KvCacheRef cache, ValueRef k, ValueRef v, std::string_view name) {
  CheckRef(k, "KvStore k");
  CheckRef(v, "KvStore v");
  if (!cache.valid() || cache.id >= static_cast<int32_t>(g_.caches.size())) {
    if (error_.ok())
      error_ = absl::InvalidArgumentError("graph builder: KvStore on an invalid cache");
  }
  Node& n = NewNode(OpKind::kKvStore, name);
  n.inputs = {k.id, v.id};
  n.cache = cache.id;
}

ValueRef GraphBuilder::Attention(ValueRef q, KvCacheRef cache, int64_t n_q_heads, float scale,
                                 std::string_view name) {
  if (!cache.valid() || cache.id >= static_cast<int32_t>(g_.caches.size())) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError("graph builder: Attention on an invalid cache");
    }
  }
  ValueRef out = Unary(OpKind::kAttention, q, ColsOf(q), name);
  Node& n = g_.nodes.back();
  n.cache = cache.id;
  n.n_heads = n_q_heads;
  n.scale = scale;
  return out;
}

ValueRef GraphBuilder::GeluMul(ValueRef gate, ValueRef up, std::string_view name) {
  CheckRef(up, "GeluMul up");
  ValueRef out = Unary(OpKind::kGeluMul, gate, ColsOf(gate), name);
  g_.nodes.back().inputs.push_back(up.id);
  return out;
}

ValueRef GraphBuilder::Add(ValueRef a, ValueRef b, std::string_view name) {
  CheckRef(b, "Add b");
  ValueRef out = Unary(OpKind::kAdd, a, ColsOf(a), name);
  g_.nodes.back().inputs.push_back(b.id);
  return out;
}

ValueRef GraphBuilder::ScaleBy(ValueRef x, float scale, std::string_view name) {
  ValueRef out = Unary(OpKind::kScaleBy, x, ColsOf(x), name);
  g_.nodes.back().scale = scale;
  return out;
}

ValueRef GraphBuilder::ScaleByWeight(ValueRef x, std::string_view scalar_weight,
                                     std::string_view name) {
  ValueRef out = Unary(OpKind::kScaleBy, x, ColsOf(x), name);
  g_.nodes.back().weights = {std::string(scalar_weight)};
  return out;
}

ValueRef GraphBuilder::Softcap(ValueRef x, float cap, std::string_view name) {
  ValueRef out = Unary(OpKind::kSoftcap, x, ColsOf(x), name);
  g_.nodes.back().cap = cap;
  return out;
}

ValueRef GraphBuilder::ColSlice(ValueRef x, int64_t offset, int64_t cols, std::string_view name) {
  ValueRef out = Unary(OpKind::kView, x, cols, name);
  Value& v = g_.values[out.id];
  v.base = x.id;
  v.col_offset = offset;
  if (CheckRef(x, "ColSlice")) v.type = g_.values[x.id].type;
  return out;
}

ValueRef GraphBuilder::PleAssemble(ValueRef ctx, ValueRef tok, int64_t n_layers, int64_t per_layer,
                                   std::string_view norm_weight, float eps, float ctx_scale,
                                   float out_scale, std::string_view name) {
  CheckRef(tok, "PleAssemble tok");
  ValueRef out = Unary(OpKind::kPleAssemble, ctx, n_layers * per_layer, name);
  Node& n = g_.nodes.back();
  n.inputs.push_back(tok.id);
  n.weights = {std::string(norm_weight)};
  n.n_layers = n_layers;
  n.per_layer = per_layer;
  n.eps = eps;
  n.scale = ctx_scale;
  n.scale2 = out_scale;
  return out;
}

MoeRouteResult GraphBuilder::MoeRoute(ValueRef logits, int64_t top_k,
                                      std::string_view per_expert_scale, std::string_view name) {
  CheckRef(logits, "MoeRoute");
  const int64_t rows = RowsOf(logits);
  Node& n = NewNode(OpKind::kMoeRoute, name);
  const int32_t node = static_cast<int32_t>(g_.nodes.size() - 1);
  n.inputs = {logits.id};
  n.weights = {std::string(per_expert_scale)};
  n.top_k = top_k;
  const std::string base = n.name;
  MoeRouteResult r;
  r.idx = NewValue(base + ":idx", ElemType::kI32, rows, top_k, node);
  r.w = NewValue(base + ":w", ElemType::kF32, rows, top_k, node);
  g_.nodes[node].outputs = {r.idx.id, r.w.id};
  return r;
}

ValueRef GraphBuilder::MoeExperts(ValueRef x, MoeRouteResult route, std::string_view gate_up,
                                  std::string_view down, int64_t n_experts, int64_t intermediate,
                                  std::string_view name) {
  CheckRef(route.idx, "MoeExperts idx");
  CheckRef(route.w, "MoeExperts w");
  ValueRef out = Unary(OpKind::kMoeExperts, x, ColsOf(x), name);
  Node& n = g_.nodes.back();
  n.inputs.push_back(route.idx.id);
  n.inputs.push_back(route.w.id);
  n.weights = {std::string(gate_up), std::string(down)};
  n.n_experts = n_experts;
  n.intermediate = intermediate;
  n.top_k = ColsOf(route.idx);
  return out;
}

ValueRef GraphBuilder::LastRow(ValueRef x, std::string_view name) {
  ValueRef out = Unary(OpKind::kLastRow, x, ColsOf(x), name);
  g_.values[out.id].rows = 1;
  return out;
}

void GraphBuilder::Output(std::string_view name, ValueRef x) {
  if (!CheckRef(x, "Output")) return;
  g_.outputs.push_back(OutputDecl{std::string(name), x.id});
}

void GraphBuilder::Tap(ValueRef x, std::string_view name) {
  if (!CheckRef(x, "Tap")) return;
  g_.taps.push_back(TapDecl{std::string(name), layer_, x.id});
}

absl::StatusOr<Graph> GraphBuilder::Finish() && {
  if (!error_.ok()) return error_;
  if (!has_ids_) return absl::InvalidArgumentError("graph builder: the graph has no TokenIds()");
  if (g_.outputs.empty())
    return absl::InvalidArgumentError("graph builder: the graph has no Output()");
  return std::move(g_);
}

}  // namespace sov::graph
