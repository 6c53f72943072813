// Lowering: a fused graph plus its memory plan -> a Plan of resolved steps.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "graph/plan.h"
#include "runtime/check.h"

namespace sov::graph {
namespace {

class Lowerer {
 public:
  Lowerer(const Graph& g, const MemoryPlan& mp, const WeightProvider& w, int64_t t_max)
      : g_(g), mp_(mp), w_(w), t_max_(t_max) {}

  absl::StatusOr<Plan> Run() {
    Plan plan;
    plan.graph_name = g_.name;
    plan.t_max = t_max_;
    plan.arena_bytes = mp_.peak_bytes;
    plan.naive_bytes = mp_.naive_bytes;
    // Owning caches get dense indices; shared ones map to their donor's.
    std::vector<int32_t> dense(g_.caches.size(), -1);
    for (size_t i = 0; i < g_.caches.size(); ++i) {
      const KvCacheDecl& c = g_.caches[i];
      if (c.shared) continue;
      dense[i] = static_cast<int32_t>(plan.caches.size());
      plan.caches.push_back(PlanCache{c.layer, c.kind, c.window, c.n_kv_heads, c.head_dim});
    }
    for (size_t i = 0; i < g_.caches.size(); ++i) {
      if (!g_.caches[i].shared) continue;
      if (g_.caches[i].donor < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("lowering: KV cache of layer ", g_.caches[i].layer, " is unresolved"));
      }
      dense[i] = dense[g_.caches[i].donor];
    }
    plan.positions.offset = mp_.buffers[mp_.positions_buffer].offset;
    plan.positions.cols = 1;
    plan.positions.ld = 1;

    const std::vector<int32_t> last = LastUses(g_);
    std::vector<int32_t> step_of(g_.nodes.size(), -1);
    plan.vocab = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = g_.nodes[i];
      if (n.op == OpKind::kTokenIds) {
        plan.token_ids = Op(n.outputs[0]);
        continue;
      }
      if (n.op == OpKind::kView) continue;
      Step s;
      s.op = n.op;
      s.name = n.name;
      s.fused = !n.fused_from.empty();
      s.layer = n.layer;
      for (int32_t v : n.inputs) s.in.push_back(Op(v));
      for (int32_t v : n.outputs) s.out.push_back(Op(v));
      if (mp_.scratch_buffer[i] >= 0) {
        const MemoryPlan::Buffer& b = mp_.buffers[mp_.scratch_buffer[i]];
        s.scratch.offset = b.offset;
        s.scratch.cols = b.bytes / 4;
        s.scratch.rows = 1;
        s.scratch.ld = s.scratch.cols;
      }
      s.cache = n.cache >= 0 ? dense[n.cache] : -1;
      s.eps = n.eps;
      s.scale = n.scale;
      s.scale2 = n.scale2;
      s.cap = n.cap;
      s.group_dim = n.group_dim;
      s.n_heads = n.n_heads;
      s.head_dim = n.head_dim;
      s.n_layers = n.n_layers;
      s.per_layer = n.per_layer;
      s.top_k = n.top_k;
      s.n_experts = n.n_experts;
      s.intermediate = n.intermediate;
      s.inv_freq = n.inv_freq;
      s.rope_base = n.rope_base;
      s.rope_freq_scale = n.rope_freq_scale;
      s.in_place_input = InPlaceInput(g_, static_cast<int32_t>(i), last);
      s.in_place = s.in_place_input >= 0;
      absl::Status st = ResolveWeights(n, &s);
      if (!st.ok()) {
        return absl::Status(st.code(),
                            absl::StrCat("lowering node '", n.name, "': ", st.message()));
      }
      if (n.op == OpKind::kEmbed &&
          g_.nodes[g_.values[n.inputs[0]].producer].op == OpKind::kTokenIds) {
        plan.vocab = std::min(plan.vocab, s.mats[0].view.rows);
      }
      step_of[i] = static_cast<int32_t>(plan.steps.size());
      plan.steps.push_back(std::move(s));
    }
    if (plan.vocab == std::numeric_limits<int64_t>::max()) plan.vocab = 0;
    if (!plan.token_ids.valid()) return absl::InvalidArgumentError("lowering: no token ids input");
    for (const OutputDecl& o : g_.outputs) plan.outputs.push_back(PlanOutput{o.name, Op(o.value)});
    for (const TapDecl& t : g_.taps) {
      const int32_t root = g_.Root(t.value);
      const int32_t p = g_.values[root].producer;
      if (p < 0 || step_of[p] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("tap '", t.name, "' reads a value no step produces"));
      }
      plan.steps[step_of[p]].taps.push_back(static_cast<int32_t>(plan.taps.size()));
      plan.taps.push_back(PlanTap{t.name, t.layer, Op(t.value)});
    }
    return plan;
  }

 private:
  Operand Op(int32_t v) const {
    Operand o;
    o.offset = mp_.value_offset[v];
    o.ld = mp_.value_ld[v];
    o.cols = g_.values[v].cols;
    o.rows = g_.values[v].rows;
    o.value = v;
    SOV_CHECK(o.offset >= 0) << "value %" << v << " '" << g_.values[v].name << "' has no buffer";
    return o;
  }

  absl::Status Mat(const std::string& name, Step* s) {
    SOV_ASSIGN_OR_RETURN(kernels::WeightView v, w_.Matrix(name));
    s->mats.push_back(MatrixRef{name, v});
    return absl::OkStatus();
  }
  absl::Status Vec(const std::string& name, Step* s) {
    VectorRef r;
    r.name = name;
    if (!name.empty()) {
      SOV_ASSIGN_OR_RETURN(r.data, w_.Vector(name));
    }
    s->vecs.push_back(std::move(r));
    return absl::OkStatus();
  }

  absl::Status ResolveWeights(const Node& n, Step* s) {
    switch (n.op) {
      case OpKind::kEmbed:
      case OpKind::kMatMul:
        return Mat(n.weights[0], s);
      case OpKind::kRMSNorm:
      case OpKind::kPleAssemble:
      case OpKind::kMoeRoute:
        return Vec(n.weights[0], s);
      case OpKind::kScaleBy:
        return n.weights.empty() ? absl::OkStatus() : Vec(n.weights[0], s);
      case OpKind::kMoeExperts: {
        SOV_ASSIGN_OR_RETURN(s->gate_up, w_.MatrixStack(n.weights[0]));
        SOV_ASSIGN_OR_RETURN(s->down, w_.MatrixStack(n.weights[1]));
        s->mats.push_back(
            MatrixRef{n.weights[0], s->gate_up.empty() ? kernels::WeightView{} : s->gate_up[0]});
        s->mats.push_back(
            MatrixRef{n.weights[1], s->down.empty() ? kernels::WeightView{} : s->down[0]});
        return absl::OkStatus();
      }
      case OpKind::kNormMatMuls:
        SOV_RETURN_IF_ERROR(Vec(n.weights[0], s));
        for (size_t k = 1; k < n.weights.size(); ++k) SOV_RETURN_IF_ERROR(Mat(n.weights[k], s));
        return absl::OkStatus();
      case OpKind::kFfnUp:
        SOV_RETURN_IF_ERROR(Mat(n.weights[0], s));
        return Mat(n.weights[1], s);
      case OpKind::kAddRMSNorm:
        SOV_RETURN_IF_ERROR(Vec(n.weights[0], s));
        return Vec(n.weights[1], s);
      default:
        return absl::OkStatus();
    }
  }

  const Graph& g_;
  const MemoryPlan& mp_;
  const WeightProvider& w_;
  int64_t t_max_;
};

}  // namespace

absl::StatusOr<Plan> Lower(const Graph& g, const MemoryPlan& mp, const WeightProvider& weights,
                           int64_t t_max) {
  return Lowerer(g, mp, weights, t_max).Run();
}

}  // namespace sov::graph
