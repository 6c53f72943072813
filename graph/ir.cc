#include "graph/ir.h"

#include <sstream>

namespace sov::graph {

const char* OpName(OpKind op) {
  switch (op) {
    case OpKind::kTokenIds:
      return "token_ids";
    case OpKind::kView:
      return "view";
    case OpKind::kEmbed:
      return "embed";
    case OpKind::kMatMul:
      return "matmul";
    case OpKind::kRMSNorm:
      return "rmsnorm";
    case OpKind::kRoPE:
      return "rope";
    case OpKind::kKvStore:
      return "kv_store";
    case OpKind::kAttention:
      return "attention";
    case OpKind::kGeluMul:
      return "gelu_mul";
    case OpKind::kAdd:
      return "add";
    case OpKind::kScaleBy:
      return "scale";
    case OpKind::kSoftcap:
      return "softcap";
    case OpKind::kPleAssemble:
      return "ple_assemble";
    case OpKind::kMoeRoute:
      return "moe_route";
    case OpKind::kMoeExperts:
      return "moe_experts";
    case OpKind::kLastRow:
      return "last_row";
    case OpKind::kNormMatMuls:
      return "norm_matmuls";
    case OpKind::kFfnUp:
      return "ffn_up";
    case OpKind::kAddRMSNorm:
      return "add_rmsnorm";
  }
  return "?";
}

std::string Graph::RowsName(int64_t rows) {
  return rows == kTokenRows ? std::string("T") : std::to_string(rows);
}

int32_t Graph::Root(int32_t v) const {
  while (v != kNoValue && values[v].is_view()) v = values[v].base;
  return v;
}

std::string Graph::ToString() const {
  std::ostringstream os;
  auto val = [&](int32_t id) {
    const Value& v = values[id];
    os << "%" << id << "[" << RowsName(v.rows) << "," << v.cols
       << (v.type == ElemType::kI32 ? ",i32" : "") << "]";
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    os << "#" << i << " " << OpName(n.op) << " " << n.name;
    if (n.layer >= 0) os << " (layer " << n.layer << ")";
    os << ":";
    for (int32_t in : n.inputs) {
      os << " ";
      val(in);
    }
    os << " ->";
    for (int32_t out : n.outputs) {
      os << " ";
      val(out);
    }
    for (const std::string& w : n.weights) os << " w=" << (w.empty() ? "-" : w);
    if (n.cache >= 0) os << " cache=" << n.cache;
    os << "\n";
  }
  return os.str();
}

}  // namespace sov::graph
