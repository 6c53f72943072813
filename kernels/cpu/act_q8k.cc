// Vector Q8_K activation quantization, byte for byte quant/'s
// QuantizeRowQ8_K (ggml's quantize_row_q8_K_ref, which ggml's x86 backend
// uses for activations): per 256 values, max = the first value of largest
// magnitude, iscale = -127 / max, q = nearest-even(iscale * x) via the same
// 1.5 * 2^23 addition, min(q, 127), int16 sums of 16, d = 1 / iscale.
// Blocks holding a NaN or an infinity, and all-zero blocks, go through the
// scalar routine, whose comparison order defines them; so does every block
// off x86 (the empty-asm rounding barrier below is x86 syntax).
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/formats.h"
#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/act_q8k.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/cpu/qmatmul.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Keeps the compiler from fusing the product into the following add (GCC
// contracts vector mul + add into an FMA, which would round once, not twice).
template <class V>
HWY_INLINE V Rounded(V v) {
#if HWY_TARGET <= HWY_AVX3
  asm("" : "+v"(v.raw));
#else
  asm("" : "+x"(v.raw));
#endif
  return v;
}

// False when the block needs the scalar routine.
HWY_INLINE bool QuantizeBlockQ8K(const float* HWY_RESTRICT x, BlockQ8_K* HWY_RESTRICT y) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  // Largest magnitude, rejecting NaN / infinity (x - x is NaN for both).
  auto vmax = hn::Zero(df);
  auto nonfinite = hn::Zero(df);  // stays 0 unless some x - x is NaN
  for (size_t j = 0; j < kQK_K; j += N) {
    const auto v = hn::LoadU(df, x + j);
    nonfinite = hn::Add(nonfinite, hn::Sub(v, v));
    vmax = hn::Max(vmax, hn::Abs(v));
  }
  if (!hn::AllTrue(df, hn::Eq(nonfinite, hn::Zero(df)))) return false;
  const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
  if (!(amax > 0.0f)) return false;
  // The first value of that magnitude (the scalar loop keeps the first).
  float max = 0.0f;
  const auto va = hn::Set(df, amax);
  for (size_t j = 0; j < kQK_K; j += N) {
    const auto m = hn::Eq(hn::Abs(hn::LoadU(df, x + j)), va);
    if (!hn::AllFalse(df, m)) {
      max = x[j + static_cast<size_t>(hn::FindFirstTrue(df, m))];
      break;
    }
  }
  const float iscale = -127.f / max;
  const auto vs = hn::Set(df, iscale);
  const auto magic = hn::Set(df, 12582912.0f);
  const auto mant = hn::Set(di, 0x007FFFFF), bias = hn::Set(di, 0x00400000);
  const auto cap = hn::Set(di, 127);
  HWY_ALIGN int32_t q[kQK_K];
  for (size_t j = 0; j < kQK_K; j += N) {
    const auto v = hn::Add(Rounded(hn::Mul(vs, hn::LoadU(df, x + j))), magic);
    const auto i = hn::Sub(hn::And(hn::BitCast(di, v), mant), bias);
    hn::Store(hn::Min(i, cap), di, q + j);
  }
  for (int j = 0; j < kQK_K; ++j) y->qs[j] = static_cast<int8_t>(q[j]);
  for (int g = 0; g < kQK_K / 16; ++g) {
    int sum = 0;
    for (int k = 0; k < 16; ++k) sum += q[g * 16 + k];
    y->bsums[g] = static_cast<int16_t>(sum);
  }
  y->d = 1 / iscale;
  return true;
}

void QuantizeRowQ8KImpl(const float* x, int64_t k, BlockQ8_K* y) {
  for (int64_t b = 0; b < k / kQK_K; ++b) {
#if HWY_ARCH_X86
    if (QuantizeBlockQ8K(x + b * kQK_K, y + b)) continue;
#endif
    quant_internal::QuantizeRowQ8_K(x + b * kQK_K, y + b, kQK_K);
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels::internal {
HWY_EXPORT(QuantizeRowQ8KImpl);

void QuantizeActRowQ8K(const float* x, int64_t k, BlockQ8_K* y) {
  SOV_CHECK(k % kQK_K == 0) << "QuantizeActRowQ8K: " << k << " values are not whole blocks";
  HWY_DYNAMIC_DISPATCH(QuantizeRowQ8KImpl)(x, k, y);
}

}  // namespace sov::kernels::internal
#endif  // HWY_ONCE
