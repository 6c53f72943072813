#include "runtime/plan_exec.h"

#include <cstring>

#include "kernels/api.h"
#include "runtime/check.h"

namespace sov {
namespace {

using graph::Operand;
using graph::OpKind;
using graph::Step;

float* F(const StepContext& c, const Operand& o) { return OperandPtr<float>(c, o); }

// Copies rows of `in` into `out` (for in-place kernels whose input survives).
void CopyRows(const StepContext& c, const Operand& in, const Operand& out, int64_t rows) {
  const float* src = F(c, in);
  float* dst = F(c, out);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * out.ld, src + r * in.ld, static_cast<size_t>(in.cols) * sizeof(float));
  }
}

// Applies fn(row_ptr, n) over the rows of `o`, in one call when contiguous.
template <class Fn>
void ForRows(const StepContext& c, const Operand& o, int64_t rows, const Fn& fn) {
  float* p = F(c, o);
  if (o.ld == o.cols) {
    fn(p, rows * o.cols);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) fn(p + r * o.ld, o.cols);
}

// RMSNorm per group of `group_dim` columns.
void GroupNorm(const StepContext& c, const Operand& in, const Operand& out, int64_t rows,
               int64_t group_dim, const float* w, float eps) {
  const float* x = F(c, in);
  float* y = F(c, out);
  const auto norm = c.numerics == Numerics::kGgml ? kernels::RMSNormGgml : kernels::RMSNorm;
  if (group_dim == in.cols) {
    norm(x, rows, in.cols, in.ld, w, eps, y, out.ld);
  } else if (in.ld == in.cols && out.ld == out.cols) {
    norm(x, rows * (in.cols / group_dim), group_dim, group_dim, w, eps, y, group_dim);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      norm(x + r * in.ld, in.cols / group_dim, group_dim, group_dim, w, eps, y + r * out.ld,
           group_dim);
    }
  }
}

using GeluFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, int64_t, float*,
                       int64_t);
GeluFn Gelu(const StepContext& c) {
  return c.numerics == Numerics::kGgml ? kernels::GeluTanhMulF16Table : kernels::GeluTanhMul;
}

using MatMulFn = void (*)(const float*, int64_t, int64_t, const kernels::WeightView&, float*,
                         int64_t);
MatMulFn Mm(const StepContext& c) {
  return c.numerics == Numerics::kGgml ? kernels::MatMulGgml : kernels::MatMul;
}

}  // namespace

void RunStep(const Step& s, const StepContext& c) {
  const int64_t R = s.out.empty() ? s.in[0].Rows(c.T) : s.out[0].Rows(c.T);
  const int32_t* pos = OperandPtr<int32_t>(c, c.plan->positions);
  switch (s.op) {
    case OpKind::kTokenIds:
    case OpKind::kView:
      return;
    case OpKind::kEmbed:
      kernels::EmbeddingGather(s.mats[0].view, OperandPtr<int32_t>(c, s.in[0]), R, s.scale,
                               F(c, s.out[0]), s.out[0].ld);
      return;
    case OpKind::kMatMul:
      Mm(c)(F(c, s.in[0]), R, s.in[0].ld, s.mats[0].view, F(c, s.out[0]), s.out[0].ld);
      return;
    case OpKind::kRMSNorm:
      GroupNorm(c, s.in[0], s.out[0], R, s.group_dim, s.vecs[0].ptr(), s.eps);
      return;
    case OpKind::kRoPE:
      if (!s.in_place) CopyRows(c, s.in[0], s.out[0], R);
      if (c.numerics == Numerics::kGgml && s.rope_base > 0.0f) {
        kernels::RoPEGgml(F(c, s.out[0]), R, s.out[0].ld, s.n_heads, s.head_dim, s.head_dim, pos,
                          s.rope_base, s.rope_freq_scale);
        return;
      }
      kernels::RoPE(F(c, s.out[0]), R, s.out[0].ld, s.n_heads, s.head_dim, pos, s.inv_freq.data());
      return;
    case OpKind::kKvStore: {
      const int32_t i = s.cache;
      if (c.kv->dtype() == DType::kF16) {
        kernels::KvAppendF16(F(c, s.in[0]), s.in[0].ld, F(c, s.in[1]), s.in[1].ld, R, c.pos0,
                             c.kv->k16(i), c.kv->v16(i), c.kv->rows(i), c.kv->row_width(i),
                             c.kv->row_width(i));
        return;
      }
      kernels::KvAppend(F(c, s.in[0]), s.in[0].ld, F(c, s.in[1]), s.in[1].ld, R, c.pos0, c.kv->k(i),
                        c.kv->v(i), c.kv->rows(i), c.kv->row_width(i), c.kv->row_width(i));
      return;
    }
    case OpKind::kAttention: {
      const graph::PlanCache& pc = c.plan->caches[s.cache];
      kernels::AttentionParams p;
      p.T = R;
      p.pos0 = c.pos0;
      p.n_q_heads = s.n_heads;
      p.n_kv_heads = pc.n_kv_heads;
      p.head_dim = pc.head_dim;
      p.window = pc.kind == graph::AttnKind::kSliding ? pc.window : 0;
      p.scale = s.scale;
      p.cache_rows = c.kv->rows(s.cache);
      p.ld_kv = c.kv->row_width(s.cache);
      if (c.kv->dtype() == DType::kF16) {
        p.k_cache_f16 = c.kv->k16(s.cache);
        p.v_cache_f16 = c.kv->v16(s.cache);
        if (c.numerics == Numerics::kGgml) {
          kernels::AttentionGgml(p, F(c, s.in[0]), s.in[0].ld, F(c, s.out[0]), s.out[0].ld);
        } else {
          kernels::AttentionF16(p, F(c, s.in[0]), s.in[0].ld, F(c, s.out[0]), s.out[0].ld);
        }
        return;
      }
      p.k_cache = c.kv->k(s.cache);
      p.v_cache = c.kv->v(s.cache);
      kernels::Attention(p, F(c, s.in[0]), s.in[0].ld, F(c, s.out[0]), s.out[0].ld);
      return;
    }
    case OpKind::kGeluMul:
      Gelu(c)(F(c, s.in[0]), s.in[0].ld, F(c, s.in[1]), s.in[1].ld, R, s.out[0].cols,
                           F(c, s.out[0]), s.out[0].ld);
      return;
    case OpKind::kAdd: {
      // y += x with y the output; y starts as the in-place input or a copy of in0.
      int xi = 1;
      if (s.in_place) {
        xi = 1 - s.in_place_input;
      } else {
        CopyRows(c, s.in[0], s.out[0], R);
      }
      const Operand& x = s.in[xi];
      const Operand& y = s.out[0];
      if (x.ld == x.cols && y.ld == y.cols) {
        kernels::Add(F(c, x), F(c, y), R * y.cols);
      } else {
        for (int64_t r = 0; r < R; ++r)
          kernels::Add(F(c, x) + r * x.ld, F(c, y) + r * y.ld, y.cols);
      }
      return;
    }
    case OpKind::kScaleBy: {
      if (!s.in_place) CopyRows(c, s.in[0], s.out[0], R);
      const float k = s.vecs.empty() ? s.scale : s.vecs[0].data[0];
      ForRows(c, s.out[0], R, [&](float* p, int64_t n) { kernels::Scale(p, n, k); });
      return;
    }
    case OpKind::kSoftcap:
      if (!s.in_place) CopyRows(c, s.in[0], s.out[0], R);
      ForRows(c, s.out[0], R, [&](float* p, int64_t n) { kernels::Softcap(p, n, s.cap); });
      return;
    case OpKind::kLastRow:
      std::memcpy(F(c, s.out[0]), F(c, s.in[0]) + (c.T - 1) * s.in[0].ld,
                  static_cast<size_t>(s.in[0].cols) * sizeof(float));
      return;
    case OpKind::kPleAssemble:
      kernels::PleAssemble(F(c, s.in[0]), F(c, s.in[1]), R, s.n_layers, s.per_layer,
                           s.vecs[0].ptr(), s.eps, s.scale, s.scale2, F(c, s.out[0]));
      return;
    case OpKind::kMoeRoute:
      SOV_CHECK(s.in[0].ld == s.in[0].cols) << "MoeRoute needs contiguous logits";
      kernels::MoeRoute(F(c, s.in[0]), R, s.in[0].cols, s.top_k, s.vecs[0].ptr(),
                        OperandPtr<int32_t>(c, s.out[0]), F(c, s.out[1]));
      return;
    case OpKind::kMoeExperts: {
      kernels::ExpertBank bank;
      bank.gate_up = s.gate_up.data();
      bank.down = s.down.data();
      bank.n_experts = s.n_experts;
      bank.hidden = s.in[0].cols;
      bank.intermediate = s.intermediate;
      bank.gelu_f16_table = c.numerics == Numerics::kGgml;
      float* scratch = s.scratch.valid() ? F(c, s.scratch) : nullptr;
      kernels::MoeExperts(bank, F(c, s.in[0]), R, s.in[0].ld, OperandPtr<int32_t>(c, s.in[1]),
                          F(c, s.in[2]), s.top_k, F(c, s.out[0]), s.out[0].ld, scratch);
      return;
    }
    case OpKind::kNormMatMuls: {
      GroupNorm(c, s.in[0], s.out[0], R, s.group_dim, s.vecs[0].ptr(), s.eps);
      for (size_t k = 0; k < s.mats.size(); ++k) {
        Mm(c)(F(c, s.out[0]), R, s.out[0].ld, s.mats[k].view, F(c, s.out[k + 1]),
              s.out[k + 1].ld);
      }
      return;
    }
    case OpKind::kFfnUp: {
      const int64_t I = s.intermediate;
      float* gate = F(c, s.scratch);
      float* up = gate + R * I;
      Mm(c)(F(c, s.in[0]), R, s.in[0].ld, s.mats[0].view, gate, I);
      Mm(c)(F(c, s.in[0]), R, s.in[0].ld, s.mats[1].view, up, I);
      Gelu(c)(gate, I, up, I, R, I, F(c, s.out[0]), s.out[0].ld);
      return;
    }
    case OpKind::kAddRMSNorm: {
      const Operand& x = s.out[0];  // storage of in[0], updated in place
      const bool has_y = s.out.size() > 1;
      const auto add_norm =
          c.numerics == Numerics::kGgml ? kernels::AddRMSNormGgml : kernels::AddRMSNorm;
      add_norm(F(c, x), R, x.cols, x.ld, F(c, s.in[1]), s.in[1].ld, s.vecs[0].ptr(),
               s.vecs[1].ptr(), s.eps, has_y ? F(c, s.out[1]) : nullptr, has_y ? s.out[1].ld : 0);
      return;
    }
  }
  SOV_CHECK(false) << "unknown step op " << static_cast<int>(s.op);
}

}  // namespace sov
