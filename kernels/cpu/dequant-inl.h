// Vectorised dequantization of the hot block formats (Q8_0, Q4_K, Q5_K, Q6_K) into
// float32, bit-exact with quant/quantize.h DequantizeRow: the same products
// in the same association, no FMA contraction (Highway's Mul and Sub are
// separate instructions). Other block types return false so callers fall
// back to DecodeRow. Layouts: quant/blocks.h (spec quantization.md).

#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/dtype.h"
#include "kernels/weight_row.h"

#if defined(SOV_KERNELS_CPU_DEQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_DEQUANT_INL_H_
#undef SOV_KERNELS_CPU_DEQUANT_INL_H_
#else
#define SOV_KERNELS_CPU_DEQUANT_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lanes of int32 / float built from `count` (a multiple of Lanes) bytes.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToSigned<DF>> LoadU8AsI32(DF df, const uint8_t* p) {
  const hn::RebindToSigned<DF> di;
  return hn::PromoteTo(di, hn::LoadU(hn::Rebind<uint8_t, decltype(di)>(), p));
}

HWY_INLINE void DequantQ8_0(const BlockQ8_0* x, int64_t nb, float* y) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> di8;
  const size_t N = hn::Lanes(df);
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const auto vd = hn::Set(df, F16ToF32(x[i].d));
    for (size_t l = 0; l < static_cast<size_t>(kQK); l += N) {
      const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(di8, x[i].qs + l)));
      hn::StoreU(hn::Mul(q, vd), df, y + l);
    }
  }
}

HWY_INLINE void DequantQ4_K(const BlockQ4_K* x, int64_t nb, float* y) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = F16ToF32(x[i].d), dmin = F16ToF32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      GetScaleMinK4(is, x[i].scales, &sc, &m);
      const auto d1 = hn::Set(df, d * sc), m1 = hn::Set(df, dmin * m);
      GetScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const auto d2 = hn::Set(df, d * sc), m2 = hn::Set(df, dmin * m);
      for (size_t l = 0; l < 32; l += N) {
        const auto b = LoadU8AsI32(df, q + l);
        const auto lo = hn::ConvertTo(df, hn::And(b, mask));
        const auto hi = hn::ConvertTo(df, hn::ShiftRight<4>(b));
        hn::StoreU(hn::Sub(hn::Mul(d1, lo), m1), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, hi), m2), df, y + 32 + l);
      }
    }
  }
}

HWY_INLINE void DequantQ5_K(const BlockQ5_K* x, int64_t nb, float* y) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  const auto mask = hn::Set(di, 0xF), one = hn::Set(di, 1);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = F16ToF32(x[i].d), dmin = F16ToF32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      GetScaleMinK4(is, x[i].scales, &sc, &m);
      const auto d1 = hn::Set(df, d * sc), m1 = hn::Set(df, dmin * m);
      GetScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const auto d2 = hn::Set(df, d * sc), m2 = hn::Set(df, dmin * m);
      for (size_t l = 0; l < 32; l += N) {
        const auto b = LoadU8AsI32(df, q + l);
        const auto h = LoadU8AsI32(df, x[i].qh + l);
        // Sub-block pair is/2 takes bits is and is + 1 of qh[l] as bit 4.
        const auto h1 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, is), one));
        const auto h2 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, is + 1), one));
        const auto lo = hn::ConvertTo(df, hn::Add(hn::And(b, mask), h1));
        const auto hi = hn::ConvertTo(df, hn::Add(hn::ShiftRight<4>(b), h2));
        hn::StoreU(hn::Sub(hn::Mul(d1, lo), m1), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, hi), m2), df, y + 32 + l);
      }
    }
  }
}

HWY_INLINE void DequantQ6_K(const BlockQ6_K* x, int64_t nb, float* y) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  const auto mask4 = hn::Set(di, 0xF), mask2 = hn::Set(di, 3), k32 = hn::Set(di, 32);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = F16ToF32(x[i].d);
    float ds[kQK_K / 16];
    for (int j = 0; j < kQK_K / 16; ++j) ds[j] = d * x[i].scales[j];
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const uint8_t* lo = ql + 32 * (k & 1);
        const int lo_shift = 4 * (k >> 1);
        for (size_t l = 0; l < 32; l += N) {
          const auto vl = hn::And(hn::ShiftRightSame(LoadU8AsI32(df, lo + l), lo_shift), mask4);
          const auto vh = hn::And(hn::ShiftRightSame(LoadU8AsI32(df, qh + l), 2 * k), mask2);
          const auto u = hn::Sub(hn::Or(vl, hn::ShiftLeft<4>(vh)), k32);
          // Elements 0..15 and 16..31 of a quarter have their own scale.
          const float scale = ds[8 * h + 2 * k + (l >= 16 ? 1 : 0)];
          hn::StoreU(hn::Mul(hn::Set(df, scale), hn::ConvertTo(df, u)), df, y + 32 * k + l);
        }
      }
    }
  }
}

// dst[0..n) from a row of `t` starting at `src`; false if `t` has no
// vector path here. n must be a multiple of the block size.
HWY_INLINE bool DequantRowFast(DType t, const uint8_t* src, float* dst, int64_t n) {
  switch (t) {
    case DType::kQ8_0:
      DequantQ8_0(reinterpret_cast<const BlockQ8_0*>(src), n / kQK, dst);
      return true;
    case DType::kQ4_K:
      DequantQ4_K(reinterpret_cast<const BlockQ4_K*>(src), n / kQK_K, dst);
      return true;
    case DType::kQ5_K:
      DequantQ5_K(reinterpret_cast<const BlockQ5_K*>(src), n / kQK_K, dst);
      return true;
    case DType::kQ6_K:
      DequantQ6_K(reinterpret_cast<const BlockQ6_K*>(src), n / kQK_K, dst);
      return true;
    default:
      return false;
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
