// Memory planning: liveness intervals per buffer, then greedy first-fit
// placement (largest buffer first) into one 64-byte-aligned arena.
#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "graph/passes/passes.h"
#include "kernels/api.h"

namespace sov::graph {
namespace {

constexpr int64_t kAlign = 64;

int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool SameShapeRoot(const Graph& g, int32_t in, int32_t out) {
  const Value& a = g.values[in];
  const Value& b = g.values[out];
  return !a.is_view() && a.type == b.type && a.rows == b.rows && a.cols == b.cols;
}

}  // namespace

std::vector<int32_t> LastUses(const Graph& g) {
  std::vector<int32_t> last(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int32_t v : g.nodes[i].inputs) {
      // A read of a view keeps every value it is a view of alive.
      for (int32_t u = v; u != kNoValue; u = g.values[u].base) {
        last[u] = std::max(last[u], static_cast<int32_t>(i));
      }
    }
  }
  const int32_t end = static_cast<int32_t>(g.nodes.size());
  for (const OutputDecl& o : g.outputs) {
    for (int32_t u = o.value; u != kNoValue; u = g.values[u].base) last[u] = end;
  }
  return last;
}

int InPlaceInput(const Graph& g, int32_t node, const std::vector<int32_t>& last_use) {
  const Node& n = g.nodes[node];
  auto dies_here = [&](int k) {
    const int32_t v = n.inputs[k];
    return last_use[v] == node && SameShapeRoot(g, v, n.outputs[0]);
  };
  switch (n.op) {
    case OpKind::kAddRMSNorm:
      return 0;  // fusion only forms it when x dies here
    case OpKind::kAdd:
      if (dies_here(0)) return 0;
      if (dies_here(1)) return 1;
      return -1;
    case OpKind::kScaleBy:
    case OpKind::kSoftcap:
    case OpKind::kRoPE:
    case OpKind::kRMSNorm:
      return dies_here(0) ? 0 : -1;
    default:
      return -1;
  }
}

int64_t ScratchFloats(const Node& n, const Graph& g, int64_t t_max) {
  auto rows = [&](int32_t v) { return g.values[v].rows == kTokenRows ? t_max : g.values[v].rows; };
  switch (n.op) {
    case OpKind::kFfnUp:
      return 2 * rows(n.inputs[0]) * n.intermediate;
    case OpKind::kMoeExperts: {
      kernels::ExpertBank bank;
      bank.n_experts = n.n_experts;
      bank.hidden = g.values[n.inputs[0]].cols;
      bank.intermediate = n.intermediate;
      return kernels::MoeExpertsScratchFloats(bank, rows(n.inputs[0]), n.top_k);
    }
    default:
      return 0;
  }
}

absl::StatusOr<MemoryPlan> PlanMemory(const Graph& g, const MemoryOptions& opts) {
  if (opts.t_max < 1) return absl::InvalidArgumentError("memory plan: t_max must be >= 1");
  MemoryPlan mp;
  const int32_t n_nodes = static_cast<int32_t>(g.nodes.size());
  const std::vector<int32_t> last = LastUses(g);
  mp.value_buffer.assign(g.values.size(), -1);
  mp.value_offset.assign(g.values.size(), -1);
  mp.value_ld.assign(g.values.size(), 0);
  mp.scratch_buffer.assign(g.nodes.size(), -1);

  auto new_buffer = [&](int64_t bytes, int32_t first, int32_t last_use, std::string what) {
    MemoryPlan::Buffer b;
    b.bytes = AlignUp(std::max<int64_t>(bytes, 1));
    b.first = first;
    b.last = std::max(first, last_use);
    b.what = std::move(what);
    mp.buffers.push_back(std::move(b));
    return static_cast<int32_t>(mp.buffers.size() - 1);
  };
  auto value_bytes = [&](int32_t v) {
    const Value& val = g.values[v];
    return (val.rows == kTokenRows ? opts.t_max : val.rows) * val.cols * 4;
  };

  mp.positions_buffer = new_buffer(opts.t_max * 4, 0, n_nodes, "positions");
  for (int32_t i = 0; i < n_nodes; ++i) {
    const Node& n = g.nodes[i];
    const int inplace = InPlaceInput(g, i, last);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const int32_t o = n.outputs[k];
      const Value& val = g.values[o];
      if (val.is_view()) continue;  // resolved below, after its base
      if (k == 0 && inplace >= 0) {
        const int32_t b = mp.value_buffer[n.inputs[inplace]];
        if (b < 0) {
          return absl::InternalError(
              absl::StrCat("memory plan: in-place input of node '", n.name, "' has no buffer"));
        }
        mp.value_buffer[o] = b;
        mp.buffers[b].last = std::max({mp.buffers[b].last, last[o], i});
        continue;
      }
      // Token ids are written by the executor before step 0.
      const int32_t first = n.op == OpKind::kTokenIds ? 0 : i;
      mp.value_buffer[o] = new_buffer(value_bytes(o), first, last[o], val.name);
    }
    const int64_t scratch = ScratchFloats(n, g, opts.t_max);
    if (scratch > 0) {
      mp.scratch_buffer[i] = new_buffer(scratch * 4, i, i, n.name + ":scratch");
    }
  }
  // Views: the base's buffer; they also keep it alive (LastUses covers that).
  for (size_t v = 0; v < g.values.size(); ++v) {
    int32_t root = g.Root(static_cast<int32_t>(v));
    mp.value_buffer[v] = mp.value_buffer[root];
    if (mp.value_buffer[v] >= 0) mp.value_ld[v] = g.values[root].cols;
  }

  // Placement.
  std::vector<int32_t> order(mp.buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return mp.buffers[a].bytes > mp.buffers[b].bytes; });
  std::vector<int32_t> placed;
  for (int32_t b : order) {
    MemoryPlan::Buffer& buf = mp.buffers[b];
    mp.naive_bytes += buf.bytes;
    if (!opts.reuse) {
      buf.offset = mp.naive_bytes - buf.bytes;
      placed.push_back(b);
      continue;
    }
    std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of live-overlapping buffers
    for (int32_t p : placed) {
      const MemoryPlan::Buffer& o = mp.buffers[p];
      if (o.first <= buf.last && buf.first <= o.last)
        busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (const auto& [s, e] : busy) {
      if (at + buf.bytes <= s) break;
      at = std::max(at, e);
    }
    buf.offset = at;
    placed.push_back(b);
  }
  for (const MemoryPlan::Buffer& b : mp.buffers) {
    mp.peak_bytes = std::max(mp.peak_bytes, b.offset + b.bytes);
  }
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (mp.value_buffer[v] < 0) continue;
    int64_t off = mp.buffers[mp.value_buffer[v]].offset;
    for (int32_t u = static_cast<int32_t>(v); g.values[u].is_view(); u = g.values[u].base) {
      off += g.values[u].col_offset * 4;
    }
    mp.value_offset[v] = off;
  }
  return mp;
}

}  // namespace sov::graph
