// MatMul for Q6_K weights with the float order of llama.cpp's x86 CPU backend
// (the "ggml" numerics mode, runtime/numerics.h), so that y is bitwise what
// libggml-cpu's ggml_mul_mat gives for the same weight bytes and f32
// activations, for any T and any thread count.
//
// Which ggml code this reproduces (ggml-cpu.c ggml_compute_forward_mul_mat,
// built with AVX2 + FMA + F16C + AVX512F/BW/DQ/VL/VNNI). Q6_K is never
// repacked on x86 and llamafile_sgemm declines it, so:
//   * T >= 8: ggml_compute_forward_mul_mat_tiled (tiled/tiled.cpp) with the
//     VNNI microtile (tiled-kernel.cpp tiled_run_micro_vnni_8x16). Its
//     windows, K chunks (standard or "narrow" path) and work stealing only
//     decide which superblocks a microtile call sees; every call adds whole
//     superblocks of one output in K order into an f32 buffer that starts at
//     +0, so the result depends neither on T nor on the thread count.
//   * T < 8: the stock path, ggml_vec_dot_q6_K_q8_K (arch/x86/quants.c,
//     the __AVX2__ branch) per (row, token).
//
// Both first quantize each activation row to Q8_K (quantize_row_q8_K;
// QuantizeActRow kQ8_K gives the same bytes). Then, per output (weight row
// n, token t), with u_e the unsigned 6-bit code (0..63) of element e, a_e the
// activation qs, sc_s the int8 scale of 16-element sub-block s, and per
// superblock b: d0 = f32(w.d) (fp16), d1 = a.d (f32):
//
// vec_dot order (T < 8):
//  1. Eight float accumulators acc[0..7] start at +0.
//  2. For each superblock in order: d = d1 * d0 rounded to float; for lane
//     m in 0..7 the exact integer
//       L_m = sum over the 8 groups g of 32 elements (elements 32g..32g+31)
//               of sc_{2g + m/4} * sum_{e = 32g+4m .. 32g+4m+3} u_e a_e
//             - 32 * (sc_{2m} bsum_{2m} + sc_{2m+1} bsum_{2m+1})
//     (maddubs / madd lanes, and the bsums correction of the -32 offset,
//     which lands in a different lane than the products it corrects), and
//     acc[m] = fma(d, float(L_m), acc[m]) (one rounding: vfmadd).
//  3. y = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))
//     (hsum_float_8).
//
// tiled order (T >= 8):
//  1. One float accumulator acc starts at +0.
//  2. For each superblock in order: the exact integer
//       S = sum_s sc_s * sum_{e in s} (u_e - 32) a_e,
//     p = float(S) * d0 rounded (vmulps), acc = fma(p, d1, acc): the source
//     writes buf + result * d1 with intrinsics that GCC lowers to plain
//     vector arithmetic and contracts (-ffp-contract=fast) into vfmadd213ps;
//     the built library's disassembly shows it, and outputs compared with
//     libggml-cpu's ggml_mul_mat agree bitwise only with the fused step.
//  3. y = acc.
#ifndef SOV_KERNELS_CPU_GGML_Q6K_H_
#define SOV_KERNELS_CPU_GGML_Q6K_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels::internal {

// True for the weights reproduced here: Q6_K (whose views always have whole
// 256-element superblocks per row).
bool GgmlMatMulQ6KSupports(const WeightView& w);

// y[t * ldy + n] = row n of w . x row t (x rows ldx floats apart), in the
// vec_dot order for T < 8 and the tiled order for T >= 8 (above).
// Requires GgmlMatMulQ6KSupports(w).
void GgmlMatMulQ6K(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy);

// llama.cpp's switch between the two orders: src1 rows >= 8 take the tiled
// kernel (tiled.cpp ggml_tiled_min_batch).
inline constexpr int64_t kGgmlTiledMinTokens = 8;

// The AVX512-VNNI kernels run when the CPU has them and they are enabled
// (default); tests switch them off to compare against the portable steps.
bool GgmlMatMulQ6KFastAvailable();
void SetGgmlMatMulQ6KFastEnabled(bool enabled);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_GGML_Q6K_H_
