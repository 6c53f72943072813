// Q8_0 (spec quantization.md §4). The reference quantizer rounds half away
// from zero (roundf) with the fp32 reciprocal of the unrounded scale.
#include <cmath>
#include <cstdint>

#include "quant/formats.h"
#include "quant/float16.h"
#include "quant/kquant_fit.h"

namespace sov::quant_internal {
namespace {

// C's float -> int8_t conversion as x86-64 compilers emit it (cvttss2si, then
// the low byte). Only reachable with non-finite products, i.e. when 1/d
// overflows for fp32-subnormal blocks; kept so those bytes match too.
inline int8_t ToInt8LikeX86(float r) {
  if (!(r > -2147483648.0f && r < 2147483648.0f)) return 0;  // "integer indefinite" 0x80000000
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<int64_t>(r) & 0xFF));
}

}  // namespace

void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
  const int64_t nb = n / kQK;
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = MaxF(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = ToInt8LikeX86(std::round(x[j] * id));
  }
}

void DequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[i * kQK + j] = x[i].qs[j] * d;
  }
}

}  // namespace sov::quant_internal
