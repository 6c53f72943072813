// Q6_K (spec quantization.md §7): symmetric 6-bit levels, int8 scales per 16.
#include <cmath>
#include <cstring>

#include "quant/formats.h"
#include "quant/float16.h"
#include "quant/kquant_fit.h"

namespace sov::quant_internal {

void QuantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n, const float* qw) {
  const int64_t nb = n / kQK_K;
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      // The importance values are the weights themselves here (no sigma2 term).
      const float* w = qw ? qw + kQK_K * i + 16 * ib : nullptr;
      const float scale = MakeQxQuants(16, 32, x + 16 * ib, L + 16 * ib, w);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = Fp32ToFp16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const int v = NearestInt(iscale * scales[ib]);
      y[i].scales[ib] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    const float d_all = Fp16ToFp32(y[i].d);
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = d_all * y[i].scales[j];
      if (!d) continue;  // keep the first fit's levels (u = 0 for a zero sub-block)
      for (int ii = 0; ii < 16; ++ii) {
        int l = NearestInt(x[16 * j + ii] / d);
        l = l < -32 ? -32 : (l > 31 ? 31 : l);
        L[16 * j + ii] = static_cast<int8_t>(l + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t u1 = static_cast<uint8_t>(L[j + l + 0]);
        const uint8_t u2 = static_cast<uint8_t>(L[j + l + 32]);
        const uint8_t u3 = static_cast<uint8_t>(L[j + l + 64]);
        const uint8_t u4 = static_cast<uint8_t>(L[j + l + 96]);
        ql[l + 0] = static_cast<uint8_t>((u1 & 0xF) | ((u3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((u2 & 0xF) | ((u4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((u1 >> 4) | ((u2 >> 4) << 2) | ((u3 >> 4) << 4) | ((u4 >> 4) << 6));
      }
    }
  }
}

void DequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n) {
  const int64_t nb = n / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    // (d * scale) * q, as ggml associates it; one product per 16 elements.
    float ds[kQK_K / 16];
    for (int j = 0; j < kQK_K / 16; ++j) ds[j] = d * x[i].scales[j];
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      // Quarter k holds elements 32k .. 32k+31 of this half (spec §7.1).
      for (int k = 0; k < 4; ++k) {
        const uint8_t* lo = ql + 32 * (k & 1);
        const int lo_shift = 4 * (k >> 1);
        for (int half = 0; half < 2; ++half) {
          const float scale = ds[8 * h + 2 * k + half];
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int u = ((lo[l] >> lo_shift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4);
            y[32 * k + l] = scale * (u - 32);
          }
        }
      }
    }
  }
}

}  // namespace sov::quant_internal
