// RMSNorm building blocks per Highway target: sum of squares with a fixed
// accumulation order (one vector accumulator, SumOfLanes, scalar tail) and
// the scaling pass. Used by norm.cc, embedding.cc (PLE) and the tests.
//
// Assumptions: no alignment; y may equal x (element i is read before it is
// written and nothing else reads it).

#include <cmath>
#include <cstdint>

#if defined(SOV_KERNELS_CPU_NORM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_NORM_INL_H_
#undef SOV_KERNELS_CPU_NORM_INL_H_
#else
#define SOV_KERNELS_CPU_NORM_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_i (x_i * s)^2 for i < n.
HWY_INLINE float SumOfSquares(const float* HWY_RESTRICT x, int64_t n, float s = 1.0f) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, s);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  // Two accumulators hide FMA latency; their combination order is fixed.
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::Mul(hn::LoadU(df, x + i), vs);
    const auto b = hn::Mul(hn::LoadU(df, x + i + N), vs);
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::Mul(hn::LoadU(df, x + i), vs);
    acc0 = hn::MulAdd(a, a, acc0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) {
    const float v = x[i] * s;
    sum += v * v;
  }
  return sum;
}

// (mean + eps)^-1/2 from a sum of squares over n elements.
HWY_INLINE float InvRms(float sum_sq, int64_t n, float eps) {
  return 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
}

// y_i = (x_i * pre) * inv * (w ? w_i : 1) [+ add_i] ... then * post.
// `add` (nullable) is added after the weight multiply; `post` scales the end
// result. All in float32, the same order in the vector body and the tail.
HWY_INLINE void NormScaleRow(const float* x, int64_t n, float pre, float inv,
                             const float* HWY_RESTRICT w, const float* HWY_RESTRICT add,
                             float post, float* y) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vpre = hn::Set(df, pre), vinv = hn::Set(df, inv), vpost = hn::Set(df, post);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::Mul(hn::Mul(hn::LoadU(df, x + i), vpre), vinv);
    if (w) v = hn::Mul(v, hn::LoadU(df, w + i));
    if (add) v = hn::Add(v, hn::LoadU(df, add + i));
    hn::StoreU(hn::Mul(v, vpost), df, y + i);
  }
  for (; i < n; ++i) {
    float v = (x[i] * pre) * inv;
    if (w) v *= w[i];
    if (add) v += add[i];
    y[i] = v * post;
  }
}

// x_i += (d_i * inv) * (w ? w_i : 1), in place on x.
HWY_INLINE void AddNormedRow(const float* HWY_RESTRICT d, int64_t n, float inv,
                             const float* HWY_RESTRICT w, float* HWY_RESTRICT x) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vinv = hn::Set(df, inv);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::Mul(hn::LoadU(df, d + i), vinv);
    if (w) v = hn::Mul(v, hn::LoadU(df, w + i));
    hn::StoreU(hn::Add(hn::LoadU(df, x + i), v), df, x + i);
  }
  for (; i < n; ++i) {
    float v = d[i] * inv;
    if (w) v *= w[i];
    x[i] += v;
  }
}

inline void RMSNormRows(const float* x, int64_t n_rows, int64_t dim, int64_t ldx,
                        const float* weight, float eps, float* y, int64_t ldy) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * ldx;
    const float inv = InvRms(SumOfSquares(xr, dim), dim, eps);
    NormScaleRow(xr, dim, 1.0f, inv, weight, nullptr, 1.0f, y + r * ldy);
  }
}

inline void AddRMSNormRows(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                           int64_t ldd, const float* w_post, const float* w_next, float eps,
                           float* y, int64_t ldy) {
  for (int64_t r = 0; r < n_rows; ++r) {
    float* xr = x + r * ldx;
    const float* dr = delta + r * ldd;
    AddNormedRow(dr, dim, InvRms(SumOfSquares(dr, dim), dim, eps), w_post, xr);
    if (y != nullptr) {
      const float inv = InvRms(SumOfSquares(xr, dim), dim, eps);
      NormScaleRow(xr, dim, 1.0f, inv, w_next, nullptr, 1.0f, y + r * ldy);
    }
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
