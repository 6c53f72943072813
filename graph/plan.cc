#include "graph/plan.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/str_format.h"
#include "runtime/check.h"

namespace sov::graph {

int64_t KvCacheRows(const PlanCache& c, int64_t t_max, int64_t context) {
  if (c.kind == AttnKind::kSliding) return std::min(c.window - 1 + t_max, context);
  return context;
}

int64_t Plan::KvCacheBytes(int64_t kv_t_max, int64_t context) const {
  int64_t bytes = 0;
  for (const PlanCache& c : caches) {
    bytes += 2 * KvCacheRows(c, kv_t_max, context) * c.row_width() * 4;  // K and V, f32
  }
  return bytes;
}

namespace {

std::string OperandText(const Operand& o) {
  return absl::StrFormat("%%%d[%s,%d]@%d", o.value, Graph::RowsName(o.rows), o.cols, o.offset);
}

}  // namespace

std::string Plan::Dump(int64_t kv_t_max, int64_t context) const {
  std::ostringstream os;
  os << "plan " << (graph_name.empty() ? "-" : graph_name) << " t_max=" << t_max << "\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    os << absl::StrFormat("%4d %-12s", i, OpName(s.op));
    if (s.layer >= 0)
      os << absl::StrFormat(" L%-3d", s.layer);
    else
      os << "     ";
    os << " " << s.name << (s.fused ? " [fused]" : "") << ":";
    for (const Operand& o : s.in) os << " " << OperandText(o);
    os << " ->";
    for (const Operand& o : s.out) os << " " << OperandText(o);
    if (s.in_place) os << " (in place on in" << s.in_place_input << ")";
    if (s.scratch.valid()) {
      os << absl::StrFormat(" scratch@%d+%dB", s.scratch.offset, s.scratch.cols * 4);
    }
    for (const MatrixRef& m : s.mats) {
      os << absl::StrFormat(" W=%s:%s[%d,%d]", m.name, Name(m.view.dtype), m.view.rows,
                            m.view.cols);
    }
    if (!s.gate_up.empty()) os << " experts=" << s.gate_up.size();
    for (const VectorRef& v : s.vecs) {
      if (!v.name.empty()) os << absl::StrFormat(" w=%s[%d]", v.name, v.data.size());
    }
    if (s.cache >= 0) {
      const PlanCache& c = caches[s.cache];
      os << absl::StrFormat(" kv=L%d(%s%s)", c.layer,
                            c.kind == AttnKind::kSliding ? "sliding W=" : "full",
                            c.kind == AttnKind::kSliding ? std::to_string(c.window) : "");
    }
    for (int32_t t : s.taps) os << " tap=" << taps[t].name;
    os << "\n";
  }
  int64_t owned = static_cast<int64_t>(caches.size());
  os << absl::StrFormat(
      "steps: %d (fused groups: add_rmsnorm %d [+next norm %d], ffn_up %d, norm_matmuls %d)\n",
      steps.size(), fusion.add_rmsnorm, fusion.add_rmsnorm_with_next, fusion.ffn_up,
      fusion.norm_matmuls);
  os << absl::StrFormat("arena: peak %d bytes (%.2f MiB), without reuse %d bytes (%.2f MiB)\n",
                        arena_bytes, arena_bytes / 1048576.0, naive_bytes, naive_bytes / 1048576.0);
  const int64_t kv = KvCacheBytes(kv_t_max, context);
  os << absl::StrFormat("kv cache: %d owning caches, %d bytes (%.2f MiB) at context %d\n", owned,
                        kv, kv / 1048576.0, context);
  return os.str();
}

absl::StatusOr<Plan> Compile(const Graph& graph, const WeightProvider& weights,
                             const CompileOptions& opts) {
  if (opts.t_max < 1) return absl::InvalidArgumentError("compile: t_max must be >= 1");
  Graph g = graph;
  SOV_RETURN_IF_ERROR(ResolveKvSharing(g));
  SOV_RETURN_IF_ERROR(InferShapes(g, &weights));
  FusionStats stats;
  if (opts.fuse) stats = Fuse(g, opts.fusion);
  SOV_ASSIGN_OR_RETURN(MemoryPlan mp, PlanMemory(g, MemoryOptions{opts.t_max, opts.reuse_memory}));
  SOV_ASSIGN_OR_RETURN(Plan plan, Lower(g, mp, weights, opts.t_max));
  plan.fusion = stats;
  return plan;
}

}  // namespace sov::graph
