// Round-to-nearest-even float32 -> fp16 conversions per Highway target, bit
// for bit equal to quant/float16.h's Fp32ToFp16 (and to F16C, which ggml
// uses). On x86 targets with F16C (AVX2 and better) the vector conversion
// is the hardware's; Highway 1.0.3 emulates DemoteTo on older x86 targets by
// truncating the mantissa, so there (and on other architectures) lanes go
// through the scalar routine. Tested on every target in kernels/f16_test.cc.

#include <cstdint>

#include "quant/float16.h"

#if defined(SOV_KERNELS_CPU_F16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_F16_INL_H_
#undef SOV_KERNELS_CPU_F16_INL_H_
#else
#define SOV_KERNELS_CPU_F16_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
inline constexpr bool kHardwareF16 = true;
#else
inline constexpr bool kHardwareF16 = false;
#endif

// fp16 bits of each lane, as uint32 lanes.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> F16Bits(DF df, hn::Vec<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  if constexpr (kHardwareF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const hn::Rebind<uint16_t, DF> du16;
    return hn::PromoteTo(du, hn::BitCast(du16, hn::DemoteTo(dh, v)));
  } else {
    HWY_ALIGN float in[hn::MaxLanes(df)];
    HWY_ALIGN uint32_t out[hn::MaxLanes(df)];
    hn::Store(v, df, in);
    for (size_t i = 0; i < hn::Lanes(df); ++i) out[i] = Fp32ToFp16(in[i]);
    return hn::Load(du, out);
  }
}

// f32(f16(v)) per lane.
template <class DF>
HWY_INLINE hn::Vec<DF> RoundToF16(DF df, hn::Vec<DF> v) {
  if constexpr (kHardwareF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::DemoteTo(dh, v));
  } else {
    HWY_ALIGN float buf[hn::MaxLanes(df)];
    hn::Store(v, df, buf);
    for (size_t i = 0; i < hn::Lanes(df); ++i) buf[i] = Fp16ToFp32(Fp32ToFp16(buf[i]));
    return hn::Load(df, buf);
  }
}

// out[i] = f32(f16(in[i] * scale)), i < n (out may equal in).
HWY_INLINE void RoundRowToF16(const float* in, int64_t n, float scale, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(RoundToF16(df, hn::Mul(hn::LoadU(df, in + i), vs)), df, out + i);
  for (; i < n; ++i) out[i] = Fp16ToFp32(Fp32ToFp16(in[i] * scale));
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
