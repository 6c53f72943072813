// Activation quantizers of the integer MatMul: the bytes ggml's x86 CPU
// backend (AVX/AVX2 builds, which every llama.cpp x86-64 release is) produces
// when it converts an f32 activation row to its weight type's vec_dot_type.
//
// These are NOT the file quantizers of quant/quantize.h. ggml's x86
// quantize_row_q8_0 / quantize_row_q8_1 differ from the reference
// (quantize_row_q8_*_ref, which QuantizeRows reproduces) in two ways:
//   * the multiplier is 127 / amax computed directly in f32, not 1 / d with
//     d = amax / 127 (the two can differ in the last bit);
//   * rounding is vroundps to nearest, ties to EVEN, not roundf (ties away).
// Q8_K needs nothing here: x86's quantize_row_q8_K is quantize_row_q8_K_ref,
// i.e. QuantizeRows(kQ8_K). (ggml's repacked Q4_K path, AVX2 with rows % 8 == 0,
// quantizes groups of 4 activation rows with its own ggml_quantize_mat_q8_K_4x8,
// which picks the sign of the scale differently when +amax and -amax both
// occur; sov does not model that path.)
//
// Per block of 32 (both formats), exactly as the AVX2 code computes it:
//   amax = max |x_j| through vmaxps (x > y ? x : y) in the fixed lane order
//          of the AVX code: 8 lanes over the 4 vectors, then 4, 2, 1;
//   d    = amax / 127.f              stored as fp16 (round to nearest even)
//   mult = amax != 0 ? 127.f / amax : 0
//   v_j  = cvtps2dq(roundps(x_j * mult))   (int32; NaN or out of range ->
//          INT32_MIN, the "integer indefinite" value)
//   qs_j = v_j saturated to int8 (packssdw then packsswb)
//   Q8_1 only: s = fp16(d * float(sum_j v_j)) with the int32 sum wrapping, as
//          vpaddd does; the unsaturated v_j are summed.
// NaN inputs aside (fp16 NaN payloads), the bytes are bitwise ggml's.
#ifndef SOV_QUANT_ACT_QUANT_H_
#define SOV_QUANT_ACT_QUANT_H_

#include <cstdint>

#include "quant/blocks.h"

namespace sov {

// Q8_1 (ggml block_q8_1), activations only: y = d * qs; s = d * sum(qs), the
// precomputed term that the min of Q4_1 / Q5_1 weights multiplies.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_1) == 36);

// n floats (a multiple of 32; callers guarantee it, as a weight's column
// count is) into n / 32 blocks.
void QuantizeActQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void QuantizeActQ8_1(const float* x, BlockQ8_1* y, int64_t n);

}  // namespace sov

#endif  // SOV_QUANT_ACT_QUANT_H_
