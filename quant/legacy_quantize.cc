// Q4_0, Q4_1, Q5_0, Q5_1 quantizers: ggml's reference path
// (quantize_row_q{4,5}_{0,1}_ref), which ggml_quantize_chunk uses when no
// importance matrix is given. llama-quant falls back to them for rows whose
// length is a multiple of 32 but not of 256 (spec quantization.md §12.6).
//
// Byte-exactness notes: x * id + 16.5 must stay two roundings (this library is
// built with -ffp-contract=off), and the float -> int8 conversion truncates
// toward zero exactly like C's (int8_t) cast; every value converted lies in
// [0, 33), so the conversion is always defined.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/float16.h"
#include "quant/formats.h"

namespace sov::quant_internal {
namespace {

// The element of largest magnitude, with its sign (first one on ties).
float SignedAbsMax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void MinMax(const float* x, float* mn, float* mx) {
  *mn = FLT_MAX;
  *mx = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < *mn) *mn = x[j];
    if (x[j] > *mx) *mx = x[j];
  }
}

uint8_t Level(float v, int top) {
  const int q = static_cast<int8_t>(v);
  return static_cast<uint8_t>(q < top ? q : top);
}

}  // namespace

void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedAbsMax(x) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = Level(x[j] * id + 8.5f, 15);
      const uint8_t hi = Level(x[kQK / 2 + j] * id + 8.5f, 15);
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void QuantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float mn, mx;
    MinMax(x, &mn, &mx);
    const float d = (mx - mn) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = Level((x[j] - mn) * id + 0.5f, 15);
      const uint8_t hi = Level((x[kQK / 2 + j] - mn) * id + 0.5f, 15);
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void QuantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedAbsMax(x) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = Level(x[j] * id + 16.5f, 31);
      const uint8_t hi = Level(x[kQK / 2 + j] * id + 16.5f, 31);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void QuantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float mn, mx;
    MinMax(x, &mn, &mx);
    const float d = (mx - mn) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      // ggml: (uint8_t)(x0 + 0.5f), no clamp (the top value is exactly 31).
      const uint8_t lo = static_cast<uint8_t>((x[j] - mn) * id + 0.5f);
      const uint8_t hi = static_cast<uint8_t>((x[kQK / 2 + j] - mn) * id + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

}  // namespace sov::quant_internal
