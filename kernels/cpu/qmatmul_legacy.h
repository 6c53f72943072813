// Row dot products of the integer MatMul for the legacy 32-element formats
// Q4_0 / Q5_0 (with Q8_0 activations) and Q4_1 / Q5_1 (with Q8_1
// activations), plus the activation-row quantization of every integer path.
// Numerics: kernels/cpu/qmatmul.h; the integer parts are defined here.
#ifndef SOV_KERNELS_CPU_QMATMUL_LEGACY_H_
#define SOV_KERNELS_CPU_QMATMUL_LEGACY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/act_quant.h"
#include "quant/blocks.h"

namespace sov::kernels::internal {

// 4- or 5-bit unsigned value u (0..15 / 0..31) of element e (0..31): element
// j < 16 in the low nibble of qs[j], element j + 16 in the high nibble; the
// 5th bit of element e is bit e of qh (little-endian uint32).
inline int LegacyLow4(const uint8_t* qs, int e) {
  return e < 16 ? (qs[e] & 0xF) : (qs[e - 16] >> 4);
}
inline int LegacyHigh1(const uint8_t* qh, int e) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return static_cast<int>((h >> e) & 1u);
}

// Exact block integers (|sum| <= 32 * 31 * 128, no overflow):
//   Q4_0: sum_e (u_e - 8) a_e     Q5_0: sum_e (u_e - 16) a_e
//   Q4_1: sum_e u_e a_e           Q5_1: sum_e u_e a_e
// (the offsets of _0 and the mins of _1 are what makes the two families differ).
inline int32_t IntPartQ4_0(const BlockQ4_0& x, const BlockQ8_0& a) {
  int32_t s = 0;
  for (int e = 0; e < kQK; ++e) s += (LegacyLow4(x.qs, e) - 8) * a.qs[e];
  return s;
}
inline int32_t IntPartQ5_0(const BlockQ5_0& x, const BlockQ8_0& a) {
  int32_t s = 0;
  for (int e = 0; e < kQK; ++e)
    s += ((LegacyLow4(x.qs, e) | (LegacyHigh1(x.qh, e) << 4)) - 16) * a.qs[e];
  return s;
}
inline int32_t IntPartQ4_1(const BlockQ4_1& x, const BlockQ8_1& a) {
  int32_t s = 0;
  for (int e = 0; e < kQK; ++e) s += LegacyLow4(x.qs, e) * a.qs[e];
  return s;
}
inline int32_t IntPartQ5_1(const BlockQ5_1& x, const BlockQ8_1& a) {
  int32_t s = 0;
  for (int e = 0; e < kQK; ++e) s += (LegacyLow4(x.qs, e) | (LegacyHigh1(x.qh, e) << 4)) * a.qs[e];
  return s;
}

// (weight row, activation row, blocks) -> the fixed-order float dot. The
// activation row is one written by QuantizeActRow (kernels/cpu/qmatmul.h):
// the VNNI dots read its tables, the portable ones only its blocks.
float RowDotQ4_0(const void* wrow, const void* arow, int64_t nb);
float RowDotQ5_0(const void* wrow, const void* arow, int64_t nb);
float RowDotQ4_1(const void* wrow, const void* arow, int64_t nb);
float RowDotQ5_1(const void* wrow, const void* arow, int64_t nb);
// VNNI versions: only call when QMatMulVnniAvailable().
float RowDotQ4_0Vnni(const void* wrow, const void* arow, int64_t nb);
float RowDotQ5_0Vnni(const void* wrow, const void* arow, int64_t nb);
float RowDotQ4_1Vnni(const void* wrow, const void* arow, int64_t nb);
float RowDotQ5_1Vnni(const void* wrow, const void* arow, int64_t nb);
// Four activation rows (arow bytes apart) against one weight row; out[t]
// equals the single-token VNNI dot bitwise (prefill).
void RowDotQ4_0Vnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb, float* out);
void RowDotQ5_0Vnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb, float* out);
void RowDotQ4_1Vnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb, float* out);
void RowDotQ5_1Vnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb, float* out);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_QMATMUL_LEGACY_H_
