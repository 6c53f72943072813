// NeoX RoPE with runtime target dispatch; tokens in parallel.
//
// cos/sin are evaluated once per (token, frequency) with the scalar float32
// std::cos/std::sin (correctly rounded to within an ulp for any argument,
// unlike polynomial vector versions whose range reduction degrades at the
// angles of long contexts), then the rotation is vectorised over channels.
// A zero inv_freq gives cos = 1, sin = 0 and the rotation is exactly the
// identity: a*1 - b*0 and b*1 + a*0 round to a and b.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/rope.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/api.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void RoPEImpl(float* x, int64_t t0, int64_t t1, int64_t ldx, int64_t n_heads, int64_t head_dim,
              const int32_t* pos, const float* inv_freq) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t half = head_dim / 2;
  std::vector<float> cs(static_cast<size_t>(2 * half));
  float* c = cs.data();
  float* s = cs.data() + half;
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[t]) * inv_freq[i];
      c[i] = std::cos(angle);
      s[i] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* lo = x + t * ldx + h * head_dim;
      float* hi = lo + half;
      int64_t i = 0;
      for (; i + N <= half; i += N) {
        const auto a = hn::LoadU(df, lo + i), b = hn::LoadU(df, hi + i);
        const auto vc = hn::LoadU(df, c + i), vs = hn::LoadU(df, s + i);
        hn::StoreU(hn::NegMulAdd(b, vs, hn::Mul(a, vc)), df, lo + i);  // a c - b s
        hn::StoreU(hn::MulAdd(a, vs, hn::Mul(b, vc)), df, hi + i);     // b c + a s
      }
      for (; i < half; ++i) {
        const float a = lo[i], b = hi[i];
        lo[i] = a * c[i] - b * s[i];
        hi[i] = b * c[i] + a * s[i];
      }
    }
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(RoPEImpl);

void RoPE(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq) {
  SOV_CHECK(head_dim > 0 && head_dim % 2 == 0) << "RoPE: head_dim must be even, got " << head_dim;
  SOV_CHECK(ldx >= n_heads * head_dim) << "RoPE: ldx " << ldx << " < n_heads * head_dim";
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n_heads * head_dim));
  ParallelFor(T, grain, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(RoPEImpl)(x, b, e, ldx, n_heads, head_dim, pos, inv_freq);
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
