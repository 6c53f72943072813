// Fusion: pattern-matches groups of nodes into single fused nodes.
//
//  * AddRMSNorm: x + RMSNorm(delta; w_post) where x dies at the Add becomes one
//    in-place kernels::AddRMSNorm; if the sum then feeds a full-width RMSNorm
//    with the same eps, that norm is absorbed as the kernel's `y` output (the
//    Gemma "post-attention norm + residual + pre-FFN norm" triple).
//    A residual Add WITHOUT a post-norm is left alone: the kernel always
//    normalises `delta`.
//  * FfnUp: GeluMul(x Wg^T, x Wu^T) with both products used only there.
//  * NormMatMuls: an RMSNorm and every MatMul reading its output.
// Order matters: AddRMSNorm first (it absorbs pre-FFN norms, so the FFN
// matmuls then form FfnUp groups), NormMatMuls last.
#include <algorithm>
#include <string>
#include <vector>

#include "graph/passes/passes.h"

namespace sov::graph {
namespace {

struct Uses {
  std::vector<std::vector<int32_t>> consumers;  // per value: nodes reading it (direct)
  std::vector<bool> pinned;                     // outputs and taps: must stay materialised
  std::vector<bool> output;                     // graph outputs: must survive the step
  std::vector<bool> viewed;                     // some view reads it
};

Uses ComputeUses(const Graph& g, const std::vector<bool>& dead) {
  Uses u;
  u.consumers.assign(g.values.size(), {});
  u.pinned.assign(g.values.size(), false);
  u.viewed.assign(g.values.size(), false);
  u.output.assign(g.values.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (dead[i]) continue;
    for (int32_t v : g.nodes[i].inputs) u.consumers[v].push_back(static_cast<int32_t>(i));
  }
  for (const Value& v : g.values) {
    if (v.is_view()) u.viewed[v.base] = true;
  }
  for (const OutputDecl& o : g.outputs) u.pinned[o.value] = u.output[o.value] = true;
  for (const TapDecl& t : g.taps) u.pinned[t.value] = true;
  return u;
}

bool Producer(const Graph& g, const std::vector<bool>& dead, int32_t v, OpKind op, int32_t* p) {
  if (g.values[v].is_view()) return false;
  *p = g.values[v].producer;
  return *p >= 0 && !dead[*p] && g.nodes[*p].op == op;
}

// The value dies at node i: nothing after i reads it (directly or via a view).
// Taps do not keep a value alive: they are recorded when it is produced.
bool DiesAt(const Graph& g, const Uses& u, int32_t v, int32_t i) {
  if (u.output[v] || u.viewed[v] || g.values[v].is_view()) return false;
  for (int32_t c : u.consumers[v]) {
    if (c > i) return false;
  }
  return true;
}

bool OnlyConsumer(const Uses& u, int32_t v, int32_t i) {
  return !u.pinned[v] && !u.viewed[v] && u.consumers[v].size() == 1 && u.consumers[v][0] == i;
}

bool OverwrittenBetween(const Graph& g, const std::vector<bool>& dead, int32_t root, int32_t from,
                        int32_t to) {
  for (int32_t k = from + 1; k < to; ++k) {
    if (!dead[k] && g.nodes[k].op == OpKind::kAddRMSNorm && g.nodes[k].inputs[0] == root) {
      return true;
    }
  }
  return false;
}

void Compact(Graph& g, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  for (Value& v : g.values) v.producer = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int32_t o : g.nodes[i].outputs) g.values[o].producer = static_cast<int32_t>(i);
  }
}

int FuseAddRMSNorm(Graph& g, int* with_next) {
  std::vector<bool> dead(g.nodes.size(), false);
  int count = 0;
  for (size_t ii = 0; ii < g.nodes.size(); ++ii) {
    const int32_t i = static_cast<int32_t>(ii);
    if (dead[i] || g.nodes[i].op != OpKind::kAdd) continue;
    const Uses u = ComputeUses(g, dead);
    const Node& add = g.nodes[i];
    for (int side = 0; side < 2; ++side) {
      const int32_t normed = add.inputs[side];
      const int32_t x = add.inputs[1 - side];
      int32_t p;
      if (!Producer(g, dead, normed, OpKind::kRMSNorm, &p)) continue;
      const Node& post = g.nodes[p];
      if (post.group_dim != g.values[normed].cols || !OnlyConsumer(u, normed, i)) continue;
      if (normed == x || !DiesAt(g, u, x, i)) continue;
      // The post-norm's input is now read at i instead of p: it must not be
      // overwritten in between by an AddRMSNorm fused earlier (the only
      // in-place decision taken before memory planning).
      if (OverwrittenBetween(g, dead, g.Root(post.inputs[0]), p, i)) continue;
      const int32_t sum = add.outputs[0];
      // Optional: the first full-width RMSNorm reading the sum, same eps --
      // unless that norm is itself the post-norm of a later residual Add
      // (MoE: post_ffn_norm after the expert sum), which fuses better there.
      int32_t next = -1;
      for (int32_t c : u.consumers[sum]) {
        const Node& r = g.nodes[c];
        const int32_t ry = r.outputs.empty() ? -1 : r.outputs[0];
        const bool post_norm_of_add = ry >= 0 && u.consumers[ry].size() == 1 &&
                                      g.nodes[u.consumers[ry][0]].op == OpKind::kAdd;
        if (r.op == OpKind::kRMSNorm && r.group_dim == g.values[sum].cols && r.eps == post.eps &&
            r.inputs[0] == sum && !post_norm_of_add) {
          next = c;
          break;
        }
      }
      Node f;
      f.op = OpKind::kAddRMSNorm;
      f.layer = add.layer;
      f.eps = post.eps;
      f.group_dim = g.values[sum].cols;
      f.inputs = {x, post.inputs[0]};
      f.outputs = {sum};
      f.weights = {post.weights[0], ""};
      f.fused_from = {post.name, add.name};
      if (next >= 0) {
        f.outputs.push_back(g.nodes[next].outputs[0]);
        f.weights[1] = g.nodes[next].weights[0];
        f.fused_from.push_back(g.nodes[next].name);
        dead[next] = true;
        ++*with_next;
      }
      f.name = f.fused_from[0];
      for (size_t k = 1; k < f.fused_from.size(); ++k) f.name += "+" + f.fused_from[k];
      dead[p] = true;
      g.nodes[i] = std::move(f);
      ++count;
      break;
    }
  }
  Compact(g, dead);
  return count;
}

int FuseFfnUp(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  const Uses u = ComputeUses(g, dead);
  int count = 0;
  for (size_t ii = 0; ii < g.nodes.size(); ++ii) {
    const int32_t i = static_cast<int32_t>(ii);
    const Node& gm = g.nodes[i];
    if (gm.op != OpKind::kGeluMul) continue;
    int32_t pg, pu;
    const int32_t gate = gm.inputs[0], up = gm.inputs[1];
    if (!Producer(g, dead, gate, OpKind::kMatMul, &pg) ||
        !Producer(g, dead, up, OpKind::kMatMul, &pu) || pg == pu) {
      continue;
    }
    if (g.nodes[pg].inputs[0] != g.nodes[pu].inputs[0]) continue;
    if (!OnlyConsumer(u, gate, i) || !OnlyConsumer(u, up, i)) continue;
    Node f;
    f.op = OpKind::kFfnUp;
    f.layer = gm.layer;
    f.inputs = {g.nodes[pg].inputs[0]};
    f.outputs = {gm.outputs[0]};
    f.weights = {g.nodes[pg].weights[0], g.nodes[pu].weights[0]};
    f.intermediate = g.values[gate].cols;
    f.fused_from = {g.nodes[pg].name, g.nodes[pu].name, gm.name};
    f.name = f.fused_from[0] + "+" + f.fused_from[1] + "+" + f.fused_from[2];
    // Placed at the later of the two matmuls, not at the GeluMul: reads of x
    // must not move later (an AddRMSNorm in between may update x in place).
    const int32_t at = std::max(pg, pu);
    dead[std::min(pg, pu)] = true;
    dead[i] = true;
    g.nodes[at] = std::move(f);
    ++count;
  }
  Compact(g, dead);
  return count;
}

int FuseNormMatMuls(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  const Uses u = ComputeUses(g, dead);
  int count = 0;
  for (size_t ii = 0; ii < g.nodes.size(); ++ii) {
    const Node& r = g.nodes[ii];
    if (r.op != OpKind::kRMSNorm) continue;
    const int32_t y = r.outputs[0];
    std::vector<int32_t> mms;
    for (int32_t c : u.consumers[y]) {
      if (!dead[c] && g.nodes[c].op == OpKind::kMatMul && g.nodes[c].inputs[0] == y) {
        mms.push_back(c);
      }
    }
    if (mms.empty()) continue;
    Node f;
    f.op = OpKind::kNormMatMuls;
    f.layer = r.layer;
    f.eps = r.eps;
    f.group_dim = r.group_dim;
    f.inputs = r.inputs;
    f.outputs = {y};
    f.weights = {r.weights[0]};
    f.fused_from = {r.name};
    f.name = r.name;
    for (int32_t m : mms) {
      f.outputs.push_back(g.nodes[m].outputs[0]);
      f.weights.push_back(g.nodes[m].weights[0]);
      f.fused_from.push_back(g.nodes[m].name);
      f.name += "+" + g.nodes[m].name;
      dead[m] = true;
    }
    g.nodes[ii] = std::move(f);
    ++count;
  }
  Compact(g, dead);
  return count;
}

}  // namespace

FusionStats Fuse(Graph& g, const FusionOptions& opts) {
  FusionStats s;
  if (opts.add_rmsnorm) s.add_rmsnorm = FuseAddRMSNorm(g, &s.add_rmsnorm_with_next);
  if (opts.ffn_up) s.ffn_up = FuseFfnUp(g);
  if (opts.norm_matmuls) s.norm_matmuls = FuseNormMatMuls(g);
  return s;
}

}  // namespace sov::graph
