// ggml's x86 activation quantizers, Q8_0 and Q8_1 (formulas in
// quant/act_quant.h). Written in scalar C++ with the vector instructions'
// semantics spelled out; this library is built with -ffp-contract=off, which
// the magic-number rounding below relies on.
#include "quant/act_quant.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "quant/float16.h"

namespace sov {
namespace {

// vmaxps / vmaxss: the second operand unless the first is greater, so a NaN
// in either position yields the second operand, and the lane order matters.
inline float VMax(float a, float b) { return a > b ? a : b; }

// The AVX reduction of |x| over a block: 4 vectors of 8 lanes folded
// lane-wise, then the high 128-bit half against the low one, then movehl,
// then movehdup.
float BlockAmax(const float* x) {
  float m[8];
  for (int l = 0; l < 8; ++l) m[l] = std::fabs(x[l]);
  for (int k = 1; k < 4; ++k) {
    for (int l = 0; l < 8; ++l) m[l] = VMax(m[l], std::fabs(x[8 * k + l]));
  }
  float m4[4];
  for (int j = 0; j < 4; ++j) m4[j] = VMax(m[4 + j], m[j]);
  const float m2_0 = VMax(m4[0], m4[2]);
  const float m2_1 = VMax(m4[1], m4[3]);
  return VMax(m2_0, m2_1);
}

// vcvtps2dq(vroundps(p, nearest)) for any p: round to nearest, ties to even;
// NaN and values outside int32 become INT32_MIN.
int32_t CvtRoundLikeX86(float p) {
  if (!(p >= -2147483648.0f && p < 2147483648.0f)) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(std::nearbyint(p));  // default mode: ties to even
}

inline int8_t SaturateInt8(int32_t v) {
  return static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));
}

// One block: writes qs, returns d (unrounded f32) and the wrapping int32 sum
// of the unsaturated integers.
float QuantizeBlock(const float* x, int8_t* qs, uint32_t* sum) {
  const float amax = BlockAmax(x);
  const float d = amax / 127.0f;
  const float mult = amax != 0.0f ? 127.0f / amax : 0.0f;
  float p[kQK];
  bool small = true;
  for (int j = 0; j < kQK; ++j) {
    p[j] = x[j] * mult;
    small &= std::fabs(p[j]) < 4194304.0f;  // false for NaN
  }
  int32_t v[kQK];
  if (small) {
    // |p| < 2^22: adding 1.5 * 2^23 lands in [2^23, 2^24), where the float
    // spacing is 1, so the addition itself rounds to nearest even; the
    // subtraction is exact. Vectorizes, unlike nearbyint.
    constexpr float kMagic = 12582912.0f;
    for (int j = 0; j < kQK; ++j) v[j] = static_cast<int32_t>((p[j] + kMagic) - kMagic);
  } else {
    for (int j = 0; j < kQK; ++j) v[j] = CvtRoundLikeX86(p[j]);
  }
  uint32_t s = 0;
  for (int j = 0; j < kQK; ++j) {
    qs[j] = SaturateInt8(v[j]);
    s += static_cast<uint32_t>(v[j]);  // vpaddd wraps
  }
  *sum = s;
  return d;
}

}  // namespace

void QuantizeActQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    uint32_t sum;
    y[i].d = Fp32ToFp16(QuantizeBlock(x, y[i].qs, &sum));
  }
}

void QuantizeActQ8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    uint32_t sum;
    const float d = QuantizeBlock(x, y[i].qs, &sum);
    y[i].d = Fp32ToFp16(d);
    y[i].s = Fp32ToFp16(d * static_cast<float>(static_cast<int32_t>(sum)));
  }
}

}  // namespace sov
