// Exact conversions between float32 and the two 16-bit float formats stored
// in GGUF files (spec quantization.md §2.1, §2.2).
//
// Everything is integer bit manipulation, so the results do not depend on the
// compiler's floating-point flags or the target's rounding hardware: the bytes
// equal ggml-base's portable converters for every input, NaN included.
#ifndef SOV_QUANT_FLOAT16_H_
#define SOV_QUANT_FLOAT16_H_

#include <bit>
#include <cstdint>

namespace sov {

// IEEE binary16, round to nearest even. Results below 2^-14 become correctly
// rounded subnormals (no flush to zero); magnitudes that round above 65504
// become infinity; every NaN becomes the quiet NaN 0x7E00 with its sign.
inline uint16_t Fp32ToFp16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7E00u;
  // 0x477FF000 = 65520, the midpoint between 65504 and 2^16; the tie goes to
  // the even neighbour, which is infinity.
  if (a >= 0x477FF000u) return sign | 0x7C00u;
  if (a >= 0x38800000u) {  // normal binary16 (>= 2^-14)
    uint32_t h = ((a >> 13) - (112u << 10));
    const uint32_t rest = a & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carry may bump the exponent
    return sign | static_cast<uint16_t>(h);
  }
  const uint32_t e = a >> 23;
  if (e == 0) return sign;  // float32 subnormals are far below 2^-25
  // Value in units of the binary16 subnormal step 2^-24: m * 2^(e - 126).
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - e;  // >= 14 here
  if (shift > 24u) return sign;     // below 2^-25: rounds to zero
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may become the smallest normal
  return sign | static_cast<uint16_t>(q);
}

// Exact widening, subnormals, infinities and NaN payloads included.
inline float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1Fu) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: shift the leading one into the implicit position
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// bfloat16, round to nearest even on the upper 16 bits; overflow becomes
// infinity through the carry, subnormals are kept, NaN is forced quiet.
inline uint16_t Fp32ToBf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float Bf16ToFp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

}  // namespace sov

#endif  // SOV_QUANT_FLOAT16_H_
