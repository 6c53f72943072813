// Decoding one weight row to float32, shared by the scalar references and the
// CPU kernels' fallback path for block-quantized dtypes.
#ifndef SOV_KERNELS_WEIGHT_ROW_H_
#define SOV_KERNELS_WEIGHT_ROW_H_

#include <cstdint>
#include <cstring>

#include "kernels/api.h"
#include "quant/dtype.h"

namespace sov::kernels {

// Exact bf16 -> f32 (bf16 is the upper half of an f32).
inline float Bf16ToF32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Exact IEEE binary16 -> f32, including subnormals, infinities and NaN.
inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {  // inf / NaN
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: renormalise
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Round-to-nearest-even f32 -> bf16 (used by tests and benches to make weights).
inline uint16_t F32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// Round-to-nearest-even f32 -> binary16 (normal range and subnormals; values
// beyond the f16 range become infinity).
uint16_t F32ToF16(float f);

// True if rows of this dtype can be decoded: F32, BF16, F16 and the block
// types quant/ can dequantize (Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1).
bool CanDecodeRows(DType t);

// dst[0..w.cols) = row r of w as float32. Aborts with a message naming the
// dtype if it cannot be decoded (see CanDecodeRows).
void DecodeRow(const WeightView& w, int64_t r, float* dst);

// The same for columns [c0, c0 + n) of row r; for quantized types c0 and n
// must be multiples of the block size.
void DecodeRowRange(const WeightView& w, int64_t r, int64_t c0, int64_t n, float* dst);

}  // namespace sov::kernels

#endif  // SOV_KERNELS_WEIGHT_ROW_H_
