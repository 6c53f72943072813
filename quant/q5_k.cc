// Q5_K (spec quantization.md §6): Q4_K's scales with 5-bit levels.
#include <cstring>

#include "quant/formats.h"
#include "quant/float16.h"
#include "quant/kquant_fit.h"

namespace sov::quant_internal {

void QuantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n, const float* qw) {
  static constexpr AsymRefParams kParams{31, -0.5f, 0.1f, 15, /*clamp_qp_levels=*/true};
  const int64_t nb = n / kQK_K;
  AsymSuperBlock sb;
  for (int64_t i = 0; i < nb; ++i) {
    QuantizeAsymSuperBlock(x + kQK_K * i, qw ? qw + kQK_K * i : nullptr, kParams, &sb);
    y[i].d = sb.d;
    y[i].dmin = sb.dmin;
    std::memcpy(y[i].scales, sb.scales, sizeof(sb.scales));
    uint8_t* qh = y[i].qh;
    uint8_t* ql = y[i].qs;
    std::memset(qh, 0, sizeof(y[i].qh));
    uint8_t m1 = 1, m2 = 2;
    for (int g = 0; g < kQK_K; g += 64, ql += 32) {
      for (int l = 0; l < 32; ++l) {
        int a = sb.L[g + l];
        if (a > 15) {
          a -= 16;
          qh[l] |= m1;
        }
        int b = sb.L[g + l + 32];
        if (b > 15) {
          b -= 16;
          qh[l] |= m2;
        }
        ql[l] = static_cast<uint8_t>(a | (b << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
  }
}

void DequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n) {
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    const float min = Fp16ToFp32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32) {
      uint8_t sc, m;
      GetScaleMinK4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      GetScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

}  // namespace sov::quant_internal
