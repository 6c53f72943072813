// Shape inference / checking: every op against its inputs and weights.
#include <string>

#include "absl/strings/str_cat.h"
#include "graph/passes/passes.h"
#include "runtime/check.h"

namespace sov::graph {
namespace {

class Checker {
 public:
  Checker(const Graph& g, const WeightProvider* w) : g_(g), w_(w) {}

  absl::Status Run() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      node_ = static_cast<int32_t>(i);
      SOV_RETURN_IF_ERROR(CheckNode(g_.nodes[i]));
    }
    for (const OutputDecl& o : g_.outputs) {
      if (g_.values[o.value].type != ElemType::kF32) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", o.name, "' is value ", Describe(o.value), ", not float32"));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string Describe(int32_t v) const {
    const Value& val = g_.values[v];
    return absl::StrCat("%", v, " '", val.name, "' [", Graph::RowsName(val.rows), ", ", val.cols,
                        val.type == ElemType::kI32 ? ", i32" : "", "]");
  }

  absl::Status Err(const std::string& msg) const {
    const Node& n = g_.nodes[node_];
    std::string where = absl::StrCat("node #", node_, " '", n.name, "' (", OpName(n.op));
    if (n.layer >= 0) absl::StrAppend(&where, ", layer ", n.layer);
    return absl::InvalidArgumentError(absl::StrCat(where, "): ", msg));
  }

  absl::Status In(const Node& n, size_t k, ElemType type, int32_t* v) {
    if (n.inputs.size() <= k || n.inputs[k] < 0 ||
        n.inputs[k] >= static_cast<int32_t>(g_.values.size())) {
      return Err(absl::StrCat("missing input ", k));
    }
    *v = n.inputs[k];
    if (g_.values[*v].type != type) {
      return Err(absl::StrCat("input ", Describe(*v), " must be ",
                              type == ElemType::kF32 ? "float32" : "int32"));
    }
    return absl::OkStatus();
  }

  absl::Status TokenRows(int32_t v) const {
    if (g_.values[v].rows != kTokenRows) {
      return Err(absl::StrCat("input ", Describe(v), " must have T rows (one per token)"));
    }
    return absl::OkStatus();
  }

  absl::Status Cols(int32_t v, int64_t want, const std::string& why) const {
    if (g_.values[v].cols != want) {
      return Err(absl::StrCat("input ", Describe(v), " has ", g_.values[v].cols,
                              " columns, expected ", want, " (", why, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status Same(int32_t a, int32_t b) const {
    const Value& x = g_.values[a];
    const Value& y = g_.values[b];
    if (x.rows != y.rows || x.cols != y.cols) {
      return Err(absl::StrCat("inputs ", Describe(a), " and ", Describe(b), " differ in shape"));
    }
    return absl::OkStatus();
  }

  absl::Status Mat(const std::string& name, int64_t rows, int64_t cols) const {
    if (w_ == nullptr) return absl::OkStatus();
    absl::StatusOr<kernels::WeightView> m = w_->Matrix(name);
    if (!m.ok()) return Err(absl::StrCat("weight '", name, "': ", m.status().message()));
    if ((rows >= 0 && m->rows != rows) || m->cols != cols) {
      return Err(absl::StrCat("weight '", name, "' is [", m->rows, ", ", m->cols, "], expected [",
                              rows >= 0 ? std::to_string(rows) : std::string("*"), ", ", cols,
                              "]"));
    }
    return absl::OkStatus();
  }

  absl::Status Vec(const std::string& name, int64_t size) const {
    if (w_ == nullptr || name.empty()) return absl::OkStatus();
    absl::StatusOr<std::span<const float>> v = w_->Vector(name);
    if (!v.ok()) return Err(absl::StrCat("weight '", name, "': ", v.status().message()));
    if (static_cast<int64_t>(v->size()) != size) {
      return Err(absl::StrCat("weight '", name, "' has ", v->size(), " elements, expected ", size));
    }
    return absl::OkStatus();
  }

  absl::Status Stack(const std::string& name, int64_t n, int64_t rows, int64_t cols) const {
    if (w_ == nullptr) return absl::OkStatus();
    absl::StatusOr<std::vector<kernels::WeightView>> s = w_->MatrixStack(name);
    if (!s.ok()) return Err(absl::StrCat("weight '", name, "': ", s.status().message()));
    if (static_cast<int64_t>(s->size()) != n) {
      return Err(absl::StrCat("weight '", name, "' has ", s->size(), " experts, expected ", n));
    }
    for (const kernels::WeightView& m : *s) {
      if (m.rows != rows || m.cols != cols) {
        return Err(absl::StrCat("weight '", name, "' holds [", m.rows, ", ", m.cols,
                                "] matrices, expected [", rows, ", ", cols, "]"));
      }
    }
    return absl::OkStatus();
  }

  const KvCacheDecl* Cache(const Node& n) const {
    if (n.cache < 0 || n.cache >= static_cast<int32_t>(g_.caches.size())) return nullptr;
    return &g_.caches[n.cache];
  }

  absl::Status CheckNode(const Node& n) {
    int32_t a = -1, b = -1, c = -1;
    const int32_t out = n.outputs.empty() ? -1 : n.outputs[0];
    switch (n.op) {
      case OpKind::kTokenIds:
        return absl::OkStatus();
      case OpKind::kView: {
        a = n.inputs.empty() ? -1 : n.inputs[0];
        const Value& v = g_.values[out];
        if (a < 0) return Err("view without a base");
        if (v.col_offset < 0 || v.cols <= 0 || v.col_offset + v.cols > g_.values[a].cols) {
          return Err(absl::StrCat("columns [", v.col_offset, ", ", v.col_offset + v.cols,
                                  ") are outside ", Describe(a)));
        }
        return absl::OkStatus();
      }
      case OpKind::kEmbed:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kI32, &a));
        SOV_RETURN_IF_ERROR(TokenRows(a));
        SOV_RETURN_IF_ERROR(Cols(a, 1, "token ids are one column"));
        return Mat(n.weights[0], -1, g_.values[out].cols);
      case OpKind::kMatMul:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        if (g_.values[out].cols <= 0) return Err("output width must be > 0");
        return Mat(n.weights[0], g_.values[out].cols, g_.values[a].cols);
      case OpKind::kRMSNorm:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        if (n.group_dim <= 0 || g_.values[a].cols % n.group_dim != 0) {
          return Err(absl::StrCat("group_dim ", n.group_dim, " does not divide the width of ",
                                  Describe(a)));
        }
        return Vec(n.weights[0], n.group_dim);
      case OpKind::kRoPE:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(TokenRows(a));
        if (n.head_dim <= 0 || n.head_dim % 2 != 0) return Err("head_dim must be even and > 0");
        SOV_RETURN_IF_ERROR(Cols(a, n.n_heads * n.head_dim, "n_heads * head_dim"));
        if (static_cast<int64_t>(n.inv_freq.size()) != n.head_dim / 2) {
          return Err(absl::StrCat("inv_freq has ", n.inv_freq.size(), " entries, expected ",
                                  n.head_dim / 2));
        }
        return absl::OkStatus();
      case OpKind::kKvStore: {
        const KvCacheDecl* kv = Cache(n);
        if (kv == nullptr) return Err("invalid cache");
        if (kv->shared) {
          return Err(absl::StrCat("layer ", kv->layer, " is KV-shared and cannot store K/V"));
        }
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(In(n, 1, ElemType::kF32, &b));
        SOV_RETURN_IF_ERROR(TokenRows(a));
        SOV_RETURN_IF_ERROR(TokenRows(b));
        SOV_RETURN_IF_ERROR(Cols(a, kv->row_width(), "K row = n_kv_heads * head_dim"));
        return Cols(b, kv->row_width(), "V row = n_kv_heads * head_dim");
      }
      case OpKind::kAttention: {
        const KvCacheDecl* kv = Cache(n);
        if (kv == nullptr) return Err("invalid cache");
        if (kv->shared && kv->donor < 0) return Err("KV-shared cache not resolved");
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(TokenRows(a));
        if (n.n_heads <= 0 || n.n_heads % kv->n_kv_heads != 0) {
          return Err(absl::StrCat(n.n_heads, " query heads is not a multiple of ", kv->n_kv_heads,
                                  " KV heads"));
        }
        return Cols(a, n.n_heads * kv->head_dim, "n_q_heads * head_dim of the cache");
      }
      case OpKind::kGeluMul:
      case OpKind::kAdd:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(In(n, 1, ElemType::kF32, &b));
        return Same(a, b);
      case OpKind::kScaleBy:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        return n.weights.empty() ? absl::OkStatus() : Vec(n.weights[0], 1);
      case OpKind::kSoftcap:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        if (!(n.cap > 0.0f)) return Err("softcap must be > 0");
        return absl::OkStatus();
      case OpKind::kLastRow:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        return TokenRows(a);
      case OpKind::kPleAssemble:
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(In(n, 1, ElemType::kF32, &b));
        SOV_RETURN_IF_ERROR(TokenRows(a));
        SOV_RETURN_IF_ERROR(Cols(a, n.n_layers * n.per_layer, "L * P"));
        SOV_RETURN_IF_ERROR(Same(a, b));
        if (g_.values[a].is_view() || g_.values[b].is_view()) {
          return Err("PleAssemble inputs must be whole values (the kernel takes no strides)");
        }
        return Vec(n.weights[0], n.per_layer);
      case OpKind::kMoeRoute: {
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        const int64_t e = g_.values[a].cols;
        if (g_.values[a].is_view()) {
          return Err("router logits must be a whole value (the kernel takes no stride)");
        }
        if (n.top_k <= 0 || n.top_k > e) {
          return Err(absl::StrCat("top_k ", n.top_k, " is outside [1, ", e, "]"));
        }
        return Vec(n.weights[0], e);
      }
      case OpKind::kMoeExperts: {
        SOV_RETURN_IF_ERROR(In(n, 0, ElemType::kF32, &a));
        SOV_RETURN_IF_ERROR(In(n, 1, ElemType::kI32, &b));
        SOV_RETURN_IF_ERROR(In(n, 2, ElemType::kF32, &c));
        if (g_.values[b].rows != g_.values[a].rows || g_.values[c].rows != g_.values[a].rows) {
          return Err("routing rows differ from the input rows");
        }
        SOV_RETURN_IF_ERROR(Cols(c, g_.values[b].cols, "one weight per selected expert"));
        const int64_t h = g_.values[a].cols;
        SOV_RETURN_IF_ERROR(Stack(n.weights[0], n.n_experts, 2 * n.intermediate, h));
        return Stack(n.weights[1], n.n_experts, h, n.intermediate);
      }
      case OpKind::kNormMatMuls:
      case OpKind::kFfnUp:
      case OpKind::kAddRMSNorm:
        return Err("fused nodes are created after shape inference");
    }
    return Err("unknown op");
  }

  const Graph& g_;
  const WeightProvider* w_;
  int32_t node_ = 0;
};

}  // namespace

absl::Status InferShapes(const Graph& g, const WeightProvider* weights) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int32_t v : g.nodes[i].inputs) {
      if (v < 0 || v >= static_cast<int32_t>(g.values.size())) {
        return absl::InvalidArgumentError(
            absl::StrCat("node #", i, " '", g.nodes[i].name, "' reads an invalid value id ", v));
      }
      const int32_t p = g.values[v].producer;
      if (p >= static_cast<int32_t>(i)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node #", i, " '", g.nodes[i].name, "' reads value %", v, " before it is produced"));
      }
    }
  }
  return Checker(g, weights).Run();
}

}  // namespace sov::graph
