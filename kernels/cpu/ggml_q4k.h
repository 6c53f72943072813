// MatMul for Q4_K weights with the float order of llama.cpp's x86 CPU backend
// (the "ggml" numerics mode, runtime/numerics.h), so that y is bitwise what
// libggml-cpu's ggml_mul_mat gives for the same weight bytes and f32
// activations, for any T and any thread count.
//
// Which ggml code this reproduces. On an AVX2 CPU llama.cpp loads Q4_K
// weights whose row count is a multiple of 8 into the CPU "repack" buffer as
// block_q4_Kx8 (repack.cpp, q4_K_8x8_q8_K), and every mul_mat on them runs
// tensor_traits::forward_mul_mat:
//   * activation rows [0, Tg), Tg = 4 * floor(T / 4), are quantized to Q8_K
//     four at a time (ggml_quantize_mat_q8_K_4x8, arch/x86/repack.cpp), the
//     remaining T % 4 rows one at a time (quantize_row_q8_K, the reference
//     rounding; QuantizeActRow kQ8_K gives the same bytes);
//   * weight rows are split between threads in chunks aligned to 8, but each
//     chunk takes every activation row, rows [0, Tg) through the gemm kernel
//     and the rest through the gemv kernel (the AVX512 and AVX2 variants of
//     each take the same float steps per output), so the order of an output
//     depends only on whether its token index is below Tg: never on T's other
//     bits, the thread count or the chunking.
//
// The 4-row quantizer differs from quantize_row_q8_K in one rule: the sign of
// the scale. quantize_row_q8_K takes max = the first value of largest
// magnitude and iscale = -127 / max; the 4-row one uses iscale = -127 / amax
// if +amax occurs in the block at all, else +127 / amax. The two differ when
// both +amax and -amax occur and -amax comes first: then the 4-row bytes are
// the negation of the row bytes (qs, bsums and d all flip sign; rounding is
// to nearest even in both, so the magnitudes agree). Every product below
// pairs one activation integer with its d, so y does not change with the
// sign; the bytes are still reproduced (QuantizeRowQ8KGgml4).
//
// Per output (weight row n, token t), with per superblock b: d = f32(w.d),
// dm = f32(w.dmin) (fp16), ad = a.d, sc_j / m_j the 6-bit scale / min of
// 32-element sub-block j, q_e the 4-bit code and a_e the activation qs of
// element e, the exact integers of 64-element chunk k = 0..3 are
//     I_k = sc_{2k} dot_{2k} + sc_{2k+1} dot_{2k+1},  dot_j = sum_{e in j} q_e a_e
//     M_k = m_{2k} B_{2k} + m_{2k+1} B_{2k+1},        B_j = sum_{e in j} a_e
// and, with P = d * ad and Q = dm * ad each rounded to float (vmulps):
//
// gemv order (t >= Tg):
//   acc = accm = +0; per superblock: acc = fma(float(I_0+I_1+I_2+I_3), P, acc),
//   accm = fma(float(M_0+M_1+M_2+M_3), Q, accm)   (float() rounds to nearest
//   even: the superblock integer may exceed 2^24); y = acc - accm.
// gemm order (t < Tg):
//   acc = accm = +0; per superblock, for k = 0..3: acc = fma(float(I_k), P,
//   acc), accm = fma(float(M_k), Q, accm); y = acc - accm.
// (Each fma is one vfmadd: ggml writes _mm256/_mm512_fmadd_ps.)
//
// Non-finite activations are outside the bitwise contract (ggml's vector
// max and the reference's comparisons treat NaN differently); y is then
// non-finite or meaningless on both sides.
#ifndef SOV_KERNELS_CPU_GGML_Q4K_H_
#define SOV_KERNELS_CPU_GGML_Q4K_H_

#include <cstdint>

#include "kernels/api.h"
#include "quant/blocks.h"

namespace sov::kernels::internal {

// True for the weights llama.cpp repacks on x86: Q4_K with a multiple of 8
// rows (views of Q4_K always hold whole 256-element superblocks per row).
bool GgmlMatMulQ4KSupports(const WeightView& w);

// y[t * ldy + n] = row n of w . x row t (x rows ldx floats apart), in the
// gemm order for t < 4 * floor(T / 4) and the gemv order for the rest
// (above). Requires GgmlMatMulQ4KSupports(w).
void GgmlMatMulQ4K(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy);

// ggml_quantize_mat_q8_K_4x8's bytes for one activation row of k floats (a
// multiple of 256), written as plain BlockQ8_K (not interleaved).
void QuantizeRowQ8KGgml4(const float* x, int64_t k, BlockQ8_K* y);

// The AVX512-VNNI kernel runs when the CPU has it and it is enabled
// (default); tests switch it off to compare against the portable steps.
bool GgmlMatMulQ4KFastAvailable();
void SetGgmlMatMulQ4KFastEnabled(bool enabled);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_GGML_Q4K_H_
