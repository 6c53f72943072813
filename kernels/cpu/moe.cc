// MoE router tail and expert bank.
//
// MoeRoute ranks experts by their logits (softmax is monotonic, so this is the
// ranking of the probabilities and it cannot be perturbed by rounding in the
// softmax); equal logits keep ascending expert ids. Probabilities are then
// computed in float32 (vector Exp, fixed-order sum) and renormalised over the
// selection.
//
// MoeExperts groups the T*k (token, slot) assignments by expert so each
// expert's weights are streamed once per step: gather the tokens' rows, run
// gate_up, GELU*up and down as MatMuls over the group (each MatMul is itself
// parallel and thread-count independent), then combine per token in slot
// order j = 0..k-1. A token's result does not depend on which other tokens
// share its experts (MatMul's per-element order ignores the token count).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/moe.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/api.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MoeRouteImpl(const float* logits, int64_t t0, int64_t t1, int64_t E, int64_t k,
                  const float* per_expert_scale, int32_t* idx, float* w) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  std::vector<float> e(static_cast<size_t>((E + N - 1) / N * N));
  std::vector<uint8_t> taken(static_cast<size_t>(E));
  for (int64_t t = t0; t < t1; ++t) {
    const float* l = logits + t * E;
    float m = l[0];
    for (int64_t i = 1; i < E; ++i) m = std::max(m, l[i]);
    std::copy(l, l + E, e.begin());
    std::fill(e.begin() + E, e.end(), m);  // padding lanes: finite, unused
    const auto vm = hn::Set(df, m);
    for (size_t i = 0; i < e.size(); i += N) {
      hn::StoreU(hn::Exp(df, hn::Sub(hn::LoadU(df, e.data() + i), vm)), df, e.data() + i);
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < E; ++i) sum += e[i];
    const float inv_sum = 1.0f / sum;
    // Top-k by logit, lowest id first among equal logits.
    std::fill(taken.begin(), taken.end(), 0);
    float sel = 0.0f;
    int32_t* ti = idx + t * k;
    float* tw = w + t * k;
    for (int64_t j = 0; j < k; ++j) {
      int64_t best = -1;
      for (int64_t i = 0; i < E; ++i) {
        if (!taken[i] && (best < 0 || l[i] > l[best])) best = i;
      }
      taken[best] = 1;
      ti[j] = static_cast<int32_t>(best);
      tw[j] = e[best] * inv_sum;
      sel += tw[j];
    }
    for (int64_t j = 0; j < k; ++j) {
      tw[j] /= sel;
      if (per_expert_scale) tw[j] *= per_expert_scale[ti[j]];
    }
  }
}

// out[c] = sum_j w[j] * y[j][c], j = 0..k-1 in order.
void WeightedSumImpl(const float* const* y, const float* w, int64_t k, int64_t n, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t c = 0;
  for (; c + N <= n; c += N) {
    auto acc = hn::Mul(hn::Set(df, w[0]), hn::LoadU(df, y[0] + c));
    for (int64_t j = 1; j < k; ++j) acc = hn::MulAdd(hn::Set(df, w[j]), hn::LoadU(df, y[j] + c), acc);
    hn::StoreU(acc, df, out + c);
  }
  for (; c < n; ++c) {
    float acc = w[0] * y[0][c];
    for (int64_t j = 1; j < k; ++j) acc = std::fma(w[j], y[j][c], acc);
    out[c] = acc;
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(MoeRouteImpl);
HWY_EXPORT(WeightedSumImpl);

void MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, const float* per_expert_scale,
              int32_t* idx, float* w) {
  SOV_CHECK(E > 0 && k >= 1 && k <= E) << "MoeRoute: k = " << k << " with " << E << " experts";
  ParallelFor(T, 16, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(MoeRouteImpl)(logits, b, e, E, k, per_expert_scale, idx, w);
  });
}

int64_t MoeExpertsScratchFloats(const ExpertBank& bank, int64_t T, int64_t k) {
  // Per assignment: gathered x [H], gate_up [2I], activation [I], expert output [H].
  return T * k * (2 * bank.hidden + 3 * bank.intermediate);
}

void MoeExperts(const ExpertBank& bank, const float* x, int64_t T, int64_t ldx,
                const int32_t* idx, const float* w, int64_t k, float* out, int64_t ldo,
                float* scratch) {
  const int64_t H = bank.hidden, I = bank.intermediate, E = bank.n_experts;
  SOV_CHECK(H > 0 && I > 0 && E > 0 && k >= 1) << "MoeExperts: empty bank or k < 1";
  SOV_CHECK(ldx >= H && ldo >= H) << "MoeExperts: row stride below hidden size";
  if (T <= 0) return;
  SOV_CHECK(scratch != nullptr) << "MoeExperts: scratch is null";
  const int64_t A = T * k;
  // Counting sort of the assignments by expert; within an expert, (t, j)
  // ascending.
  std::vector<int64_t> start(static_cast<size_t>(E + 1), 0);
  for (int64_t a = 0; a < A; ++a) {
    SOV_CHECK(idx[a] >= 0 && idx[a] < E) << "MoeExperts: expert id " << idx[a] << " out of range";
    ++start[idx[a] + 1];
  }
  for (int64_t e = 0; e < E; ++e) start[e + 1] += start[e];
  std::vector<int64_t> slot_of(static_cast<size_t>(A)), order(static_cast<size_t>(A));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t a = 0; a < A; ++a) {
      const int64_t s = fill[idx[a]]++;
      order[s] = a;
      slot_of[a] = s;
    }
  }
  float* xg = scratch;               // [A, H]
  float* gu = xg + A * H;            // [A, 2I]
  float* act = gu + A * 2 * I;       // [A, I]
  float* ye = act + A * I;           // [A, H]
  for (int64_t e = 0; e < E; ++e) {
    const int64_t s0 = start[e], n = start[e + 1] - s0;
    if (n == 0) continue;
    const WeightView& g = bank.gate_up[e];
    const WeightView& d = bank.down[e];
    SOV_CHECK(g.rows == 2 * I && g.cols == H && d.rows == H && d.cols == I)
        << "MoeExperts: expert " << e << " has shape gate_up [" << g.rows << ", " << g.cols
        << "], down [" << d.rows << ", " << d.cols << "]; expected [" << 2 * I << ", " << H
        << "], [" << H << ", " << I << "]";
    for (int64_t s = s0; s < s0 + n; ++s) {
      std::memcpy(xg + s * H, x + (order[s] / k) * ldx, static_cast<size_t>(H) * 4);
    }
    MatMul(xg + s0 * H, n, H, g, gu + s0 * 2 * I, 2 * I);
    (bank.gelu_f16_table ? GeluTanhMulF16Table : GeluTanhMul)(
        gu + s0 * 2 * I, 2 * I, gu + s0 * 2 * I + I, 2 * I, n, I, act + s0 * I, I);
    MatMul(act + s0 * I, n, I, d, ye + s0 * H, H);
  }
  ParallelFor(T, 4, [&](int64_t t0, int64_t t1) {
    std::vector<const float*> ys(static_cast<size_t>(k));
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t j = 0; j < k; ++j) ys[j] = ye + slot_of[t * k + j] * H;
      HWY_DYNAMIC_DISPATCH(WeightedSumImpl)(ys.data(), w + t * k, k, H, out + t * ldo);
    }
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
