// Q4_K (spec quantization.md §5): 4-bit levels, 6-bit sub-block scales/mins.
#include <cstring>

#include "quant/formats.h"
#include "quant/float16.h"
#include "quant/kquant_fit.h"

namespace sov::quant_internal {

void QuantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n, const float* qw) {
  static constexpr AsymRefParams kParams{15, -1.0f, 0.1f, 20, /*clamp_qp_levels=*/false};
  const int64_t nb = n / kQK_K;
  AsymSuperBlock sb;
  for (int64_t i = 0; i < nb; ++i) {
    QuantizeAsymSuperBlock(x + kQK_K * i, qw ? qw + kQK_K * i : nullptr, kParams, &sb);
    y[i].d = sb.d;
    y[i].dmin = sb.dmin;
    std::memcpy(y[i].scales, sb.scales, sizeof(sb.scales));
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(sb.L[j + l] | (sb.L[j + l + 32] << 4));
    }
  }
}

void DequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n) {
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    const float min = Fp16ToFp32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      uint8_t sc, m;
      GetScaleMinK4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      GetScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

}  // namespace sov::quant_internal
