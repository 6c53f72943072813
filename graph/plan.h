// The compiled Plan: a flat vector of steps, each one kernel call (or one
// fused group of calls) with every operand resolved to an arena byte offset and
// row stride, and every weight resolved to a kernels::WeightView. A Plan is
// compiled once per shape class (a prefill bucket of t_max rows, decode with
// t_max = 1) and reused for every step; at run time only T (<= t_max) and
// pos0 change. The executor (runtime/executor.h) owns the arena and caches.
#ifndef SOV_GRAPH_PLAN_H_
#define SOV_GRAPH_PLAN_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "graph/passes/passes.h"
#include "graph/weight_provider.h"
#include "kernels/api.h"

namespace sov::graph {

// An activation operand: rows x cols at `offset` bytes into the arena, row
// stride `ld` elements.
struct Operand {
  int64_t offset = -1;
  int64_t ld = 0;
  int64_t cols = 0;
  int64_t rows = kTokenRows;  // kTokenRows = T of the step, else static
  int32_t value = kNoValue;   // graph value id (for dumps)
  bool valid() const { return offset >= 0; }
  int64_t Rows(int64_t T) const { return rows == kTokenRows ? T : rows; }
};

// A 1-D float weight resolved from the provider (norm weights, scalars).
struct VectorRef {
  std::string name;  // "" = none
  std::span<const float> data;
  const float* ptr() const { return name.empty() ? nullptr : data.data(); }
};

struct MatrixRef {
  std::string name;
  kernels::WeightView view;
};

// One owning KV cache, dense index = PlanCache position.
struct PlanCache {
  int32_t layer = -1;
  AttnKind kind = AttnKind::kFull;
  int64_t window = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t row_width() const { return n_kv_heads * head_dim; }
};
// Rows a cache needs: sliding caches are ring buffers of window - 1 + t_max
// rows (every key a query of a t_max-row step may see), full caches hold the
// whole context. Never more than the context.
int64_t KvCacheRows(const PlanCache& c, int64_t t_max, int64_t context);

struct Step {
  OpKind op = OpKind::kMatMul;
  std::string name;  // node name (fused: "a+b+c")
  bool fused = false;
  int32_t layer = -1;
  std::vector<Operand> in;
  std::vector<Operand> out;
  Operand scratch;
  std::vector<MatrixRef> mats;
  std::vector<VectorRef> vecs;
  std::vector<kernels::WeightView> gate_up, down;  // MoE expert banks
  int32_t cache = -1;  // index into Plan::caches (donor's for KV-shared layers)
  // Attributes (copied from the node).
  float eps = 0.0f, scale = 1.0f, scale2 = 1.0f, cap = 0.0f;
  int64_t group_dim = 0, n_heads = 0, head_dim = 0, n_layers = 0, per_layer = 0;
  int64_t top_k = 0, n_experts = 0, intermediate = 0;
  std::vector<float> inv_freq;
  float rope_base = 0.0f, rope_freq_scale = 1.0f;  // Node::rope_base
  bool in_place = false;  // out[0] shares storage with in[in_place_input]
  int in_place_input = -1;
  std::vector<int32_t> taps;  // indices into Plan::taps recorded after this step
};

struct PlanTap {
  std::string name;
  int32_t layer = -1;
  Operand where;
};
struct PlanOutput {
  std::string name;
  Operand where;
};

struct Plan {
  std::string graph_name;
  int64_t t_max = 1;
  int64_t arena_bytes = 0;  // peak of the memory plan
  int64_t naive_bytes = 0;  // without reuse, for comparison
  std::vector<Step> steps;
  std::vector<PlanCache> caches;
  Operand token_ids;  // int32 [T, 1], written by the executor
  Operand positions;  // int32 [T], written by the executor (pos0 + t)
  int64_t vocab = 0;  // rows of the smallest embedding table read by token ids
  std::vector<PlanOutput> outputs;
  std::vector<PlanTap> taps;
  FusionStats fusion;

  // One line per step (op, fused group, inputs -> outputs with offsets and
  // sizes, weights with dtypes), then totals. KV bytes use `kv_t_max` /
  // `context` (the executor's cache geometry).
  std::string Dump(int64_t kv_t_max, int64_t context) const;
  int64_t KvCacheBytes(int64_t kv_t_max, int64_t context) const;
};

struct CompileOptions {
  int64_t t_max = 1;
  FusionOptions fusion;
  bool fuse = true;
  bool reuse_memory = true;
};

// Runs all passes on a copy of `g` and lowers to a Plan. Errors from shape
// inference and KV sharing come back unchanged (they name node and value).
absl::StatusOr<Plan> Compile(const Graph& g, const WeightProvider& weights,
                             const CompileOptions& opts);

// Lowering alone (the last pass), on a resolved, fused graph and its memory plan.
absl::StatusOr<Plan> Lower(const Graph& g, const MemoryPlan& mp, const WeightProvider& weights,
                           int64_t t_max);

}  // namespace sov::graph

#endif  // SOV_GRAPH_PLAN_H_
