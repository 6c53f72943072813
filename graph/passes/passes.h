// Compiler passes over a Graph, in the order graph/compile.cc runs them:
//
//   ResolveKvSharing -> InferShapes -> Fuse -> PlanMemory -> Lower (plan.h)
//
// Each pass lives in its own file under graph/passes/.
#ifndef SOV_GRAPH_PASSES_PASSES_H_
#define SOV_GRAPH_PASSES_PASSES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "graph/weight_provider.h"

namespace sov::graph {

// KV-share resolution (spec gemma4.md §2.5.6, HF rule): with first_shared the
// smallest layer index among shared caches, the donor of a shared cache is the
// owning cache of the LAST layer < first_shared whose attention kind equals the
// shared layer's. Copies the donor's geometry (heads, head_dim, window) into
// the shared declaration. Errors name the layer that has no donor.
absl::Status ResolveKvSharing(Graph& g);

// Checks every op's input widths/types against its attributes and (when
// `weights` is not null) the resolved weight shapes. Errors name the node
// (index, name, layer, op) and the offending value or weight.
absl::Status InferShapes(const Graph& g, const WeightProvider* weights);

struct FusionOptions {
  bool add_rmsnorm = true;   // [post-norm] + residual Add [+ next RMSNorm] -> AddRMSNorm
  bool ffn_up = true;        // gate MatMul + up MatMul + GeluMul -> FfnUp
  bool norm_matmuls = true;  // RMSNorm feeding MatMuls -> NormMatMuls
};
struct FusionStats {
  int add_rmsnorm = 0;
  int add_rmsnorm_with_next = 0;  // of which also absorbed the following RMSNorm
  int ffn_up = 0;
  int norm_matmuls = 0;
};
// Rewrites `g.nodes` into fused groups. Values that are graph outputs or taps
// are never eliminated. Value ids are kept (eliminated values just lose their
// producer and are never read).
FusionStats Fuse(Graph& g, const FusionOptions& opts = {});

// Liveness-based arena assignment. Every value whose root is not a view gets
// a byte range in one arena (64-byte aligned); a node that can run in place
// (Add, ScaleBy, Softcap, RoPE, RMSNorm, AddRMSNorm) writes its output into an
// input that dies there. Values whose lifetimes (in node order) do not overlap
// may share bytes. Scratch of fused/MoE nodes is a buffer live only at its node.
struct MemoryPlan {
  struct Buffer {
    int64_t offset = 0;  // bytes from the arena start
    int64_t bytes = 0;   // rounded up to 64
    int32_t first = 0;   // node index where it is written first
    int32_t last = 0;    // node index of the last read (nodes.size() for graph outputs)
    std::string what;    // value or scratch name
  };
  std::vector<Buffer> buffers;
  std::vector<int32_t> value_buffer;    // per value: buffer index (views: the base's), -1 if unused
  std::vector<int64_t> value_offset;    // per value: byte offset of column 0 (views included)
  std::vector<int64_t> value_ld;        // per value: row stride in elements
  std::vector<int32_t> scratch_buffer;  // per node: scratch buffer index or -1
  int32_t positions_buffer = -1;        // int32 [T_max] positions for RoPE
  int64_t peak_bytes = 0;
  int64_t naive_bytes = 0;  // sum of all buffer sizes (no reuse)
};
struct MemoryOptions {
  int64_t t_max = 1;  // rows of token-row values
  bool reuse = true;  // false: every buffer gets its own bytes (for tests / debugging)
};
// Needs the resolved expert banks' sizes only through the node attributes.
absl::StatusOr<MemoryPlan> PlanMemory(const Graph& g, const MemoryOptions& opts);

// Index of the input whose storage node `n` overwrites with its output, or -1.
// Shared by the memory planner and lowering so both agree.
int InPlaceInput(const Graph& g, int32_t node, const std::vector<int32_t>& last_use);
// Per value: index of the last node reading it (views count for their root);
// graph outputs read "at the end" (nodes.size()).
std::vector<int32_t> LastUses(const Graph& g);
// Floats of scratch a node needs at T = t_max (0 for none).
int64_t ScratchFloats(const Node& n, const Graph& g, int64_t t_max);

}  // namespace sov::graph

#endif  // SOV_GRAPH_PASSES_PASSES_H_
