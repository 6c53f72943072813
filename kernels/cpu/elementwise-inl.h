// Element-wise activations per Highway target: GELU(tanh)·up, softcap, scale,
// add. tanh is Highway's contrib Tanh (max error 4 ULP, documented in
// hwy/contrib/math/math-inl.h). No alignment assumed. The transcendental ops
// finish a partial vector through a zero-padded stack copy so every element
// goes through the same vector code; the others use a scalar tail.

#include <cmath>
#include <cstdint>

#if defined(SOV_KERNELS_CPU_ELEMENTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_ELEMENTWISE_INL_H_
#undef SOV_KERNELS_CPU_ELEMENTWISE_INL_H_
#else
#define SOV_KERNELS_CPU_ELEMENTWISE_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class DF, class V>
HWY_INLINE V GeluTanhVec(DF df, V z) {
  const auto k0 = hn::Set(df, 0.7978845608028654f);  // sqrt(2/pi)
  const auto k1 = hn::Set(df, 0.044715f);
  const auto half = hn::Set(df, 0.5f);
  const auto z3 = hn::Mul(hn::Mul(z, z), z);
  const auto inner = hn::Mul(k0, hn::MulAdd(k1, z3, z));
  const auto t = hn::Tanh(df, inner);
  const auto hz = hn::Mul(half, z);
  return hn::MulAdd(hz, t, hz);  // 0.5 z (1 + t)
}

HWY_INLINE void GeluTanhMulRow(const float* HWY_RESTRICT gate, const float* HWY_RESTRICT up,
                               int64_t n, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = GeluTanhVec(df, hn::LoadU(df, gate + i));
    hn::StoreU(hn::Mul(g, hn::LoadU(df, up + i)), df, out + i);
  }
  if (i < n) {  // partial vector via a zero-padded copy
    alignas(64) float g[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) float u[HWY_MAX_BYTES / sizeof(float)] = {};
    for (int64_t j = i; j < n; ++j) g[j - i] = gate[j], u[j - i] = up[j];
    const auto r = hn::Mul(GeluTanhVec(df, hn::Load(df, g)), hn::Load(df, u));
    hn::Store(r, df, g);
    for (int64_t j = i; j < n; ++j) out[j] = g[j - i];
  }
}

// x = cap * tanh(x / cap), in place.
HWY_INLINE void SoftcapRow(float* x, int64_t n, float cap) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vcap = hn::Set(df, cap), vinv = hn::Set(df, 1.0f / cap);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto t = hn::Tanh(df, hn::Mul(hn::LoadU(df, x + i), vinv));
    hn::StoreU(hn::Mul(vcap, t), df, x + i);
  }
  if (i < n) {
    alignas(64) float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    hn::Store(hn::Mul(vcap, hn::Tanh(df, hn::Mul(hn::Load(df, buf), vinv))), df, buf);
    for (int64_t j = i; j < n; ++j) x[j] = buf[j - i];
  }
}

HWY_INLINE void ScaleRow(float* x, int64_t n, float s) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, s);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vs), df, x + i);
  for (; i < n; ++i) x[i] *= s;
}

HWY_INLINE void AddRow(const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Add(hn::LoadU(df, y + i), hn::LoadU(df, x + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += x[i];
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
