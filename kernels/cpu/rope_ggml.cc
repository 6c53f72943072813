// RoPEGgml (kernels/cpu/rope_ggml.h) with runtime target dispatch; tokens in
// parallel (each row is rotated by one task with its own cos/sin cache, so
// the split cannot change a bit).
//
// The rotation's fused products need a true FMA: targets with a native one
// run vectors (hn::MulAdd is one rounding there); on the others hn::MulAdd
// would round the product first, so those take the scalar std::fma loop
// (correctly rounded everywhere, like the hardware instruction).
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/rope_ggml.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/rope_ggml.h"
#include "kernels/parallel.h"

namespace sov::kernels::internal {
#ifndef SOV_KERNELS_CPU_ROPE_GGML_ONCE_
#define SOV_KERNELS_CPU_ROPE_GGML_ONCE_
// One head's pair rotation, scalar: the definition (rope_ggml.h).
inline void RotateHeadScalar(float* lo, float* hi, int64_t i0, int64_t half, const float* c,
                             const float* s) {
  for (int64_t i = i0; i < half; ++i) {
    const float x0 = lo[i], x1 = hi[i];
    // Each product that ggml leaves unfused is its own statement, so no
    // compiler contracts it into the neighbouring add.
    const float x1s = x1 * s[i];
    const float x1c = x1 * c[i];
    lo[i] = std::fma(x0, c[i], -x1s);
    hi[i] = std::fma(x0, s[i], x1c);
  }
}
#endif
}  // namespace sov::kernels::internal

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void RoPEGgmlImpl(float* x, int64_t t0, int64_t t1, int64_t ldx, int64_t n_heads, int64_t head_dim,
                  int64_t n_dims, const int32_t* pos, float freq_base, float freq_scale) {
  const int64_t half = n_dims / 2;
  std::vector<float> cs(static_cast<size_t>(2 * half));
  float* c = cs.data();
  float* s = cs.data() + half;
  for (int64_t t = t0; t < t1; ++t) {
    internal::RoPEGgmlCosSin(pos[t], n_dims, freq_base, freq_scale, c, s);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* lo = x + t * ldx + h * head_dim;
      float* hi = lo + half;
      int64_t i = 0;
#if HWY_NATIVE_FMA
      const hn::ScalableTag<float> df;
      const int64_t N = static_cast<int64_t>(hn::Lanes(df));
      for (; i + N <= half; i += N) {
        const auto x0 = hn::LoadU(df, lo + i), x1 = hn::LoadU(df, hi + i);
        const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
        hn::StoreU(hn::MulAdd(x0, vc, hn::Neg(hn::Mul(x1, vs))), df, lo + i);
        hn::StoreU(hn::MulAdd(x0, vs, hn::Mul(x1, vc)), df, hi + i);
      }
#endif
      internal::RotateHeadScalar(lo, hi, i, half, c, s);
    }
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(RoPEGgmlImpl);

namespace {
void CheckGeometry(int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim, int64_t n_dims) {
  SOV_CHECK(T >= 0 && n_heads >= 0) << "RoPEGgml: T " << T << ", n_heads " << n_heads;
  SOV_CHECK(n_dims > 0 && n_dims % 2 == 0 && n_dims <= head_dim)
      << "RoPEGgml: n_dims " << n_dims << " must be even and in (0, head_dim " << head_dim << "]";
  SOV_CHECK(ldx >= n_heads * head_dim) << "RoPEGgml: ldx " << ldx << " < n_heads * head_dim";
}
}  // namespace

namespace internal {

void RoPEGgmlCosSin(int32_t pos, int64_t n_dims, float freq_base, float freq_scale, float* c,
                    float* s) {
  // ggml passes n_dims as int and divides in float.
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_dims));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_dims / 2; ++i) {
    // ggml's theta_extrap / freq_factor (1) is exact; freq_scale * theta is
    // rounded, then glibc's cosf / sinf (mscale = attn_factor = 1 is exact).
    const float angle = freq_scale * theta;
    c[i] = std::cos(angle);
    s[i] = std::sin(angle);
    theta *= theta_scale;
  }
}

void RoPEGgmlPortable(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
                      int64_t n_dims, const int32_t* pos, float freq_base, float freq_scale) {
  CheckGeometry(T, ldx, n_heads, head_dim, n_dims);
  const int64_t half = n_dims / 2;
  std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int64_t t = 0; t < T; ++t) {
    RoPEGgmlCosSin(pos[t], n_dims, freq_base, freq_scale, c.data(), s.data());
    for (int64_t h = 0; h < n_heads; ++h) {
      float* lo = x + t * ldx + h * head_dim;
      RotateHeadScalar(lo, lo + half, 0, half, c.data(), s.data());
    }
  }
}

}  // namespace internal

void RoPEGgml(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim, int64_t n_dims,
              const int32_t* pos, float freq_base, float freq_scale) {
  CheckGeometry(T, ldx, n_heads, head_dim, n_dims);
  // The cos/sin cache (n_dims/2 cosf + sinf per token) costs about as much as
  // rotating 16 heads, so a task gets a few tokens.
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n_heads * n_dims));
  ParallelFor(T, grain, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(RoPEGgmlImpl)
    (x, b, e, ldx, n_heads, head_dim, n_dims, pos, freq_base, freq_scale);
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
