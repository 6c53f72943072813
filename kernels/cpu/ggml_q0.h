// MatMul for Q8_0 / Q5_0 weights with the float order of llama.cpp's x86 CPU
// backend (the "ggml" numerics mode, runtime/numerics.h), so that y is bitwise
// what libggml-cpu's ggml_mul_mat gives for the same weight bytes and f32
// activations, for any T and any thread count.
//
// Which ggml code this reproduces (ggml-cpu.c ggml_compute_forward_mul_mat,
// built with AVX2 + FMA + F16C + AVX512-VNNI):
//   * T >= 2: llamafile_sgemm -> tinyBLAS_Q0_AVX (the 4x4 / 4xN / Mx4 / MxN
//     tiles all do the same per-output steps); T == 1: llamafile declines
//     (n < 2) and ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q5_0_q8_0 run, whose
//     AVX2 loops take the same steps. Q8_0 and Q5_0 weights are never
//     repacked on x86 and the tiled K-quant path does not take them.
//   * Q4_0 is left out on purpose: llama.cpp loads Q4_0 weights with
//     rows % 8 == 0 into its repack buffer (q4_0_8x8 gemv/gemm), a different
//     order that this kernel does not reproduce.
//
// Per output (weight row n, token t), the steps (the portable definition in
// ggml_q0.cc performs exactly these; fast paths must match it bitwise):
//  1. The activation row is quantized to Q8_0 with ggml's x86 bytes
//     (QuantizeActRow kQ8_0, kernels/cpu/qmatmul.h); its qs lie in
//     [-127, 127], never -128.
//  2. Eight float accumulators acc[0..7] start at +0.
//  3. For each 32-element block b in order: d = f32(w.d) * f32(a.d), rounded
//     to float; for lane l in 0..7: s_l = sum of the 4 exact integer products
//     of elements 4l..4l+3 (signed weight value times activation qs), and
//     acc[l] = fma(d, float(s_l), acc[l]) (one rounding: vfmadd).
//  4. y = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))
//     (tinyBLAS hsum / quants.c hsum_float_8: high half + low half, then
//     movehl, then movehdup).
#ifndef SOV_KERNELS_CPU_GGML_Q0_H_
#define SOV_KERNELS_CPU_GGML_Q0_H_

#include <cstdint>

#include "kernels/api.h"
#include "quant/dtype.h"

namespace sov::kernels::internal {

// True for the weight types reproduced here: Q8_0 and Q5_0.
bool GgmlMatMulQ0Supports(DType t);

// y[t * ldy + n] = row n of w . x row t (x rows ldx floats apart), with the
// steps above. Requires GgmlMatMulQ0Supports(w.dtype) and w.cols % 32 == 0.
void GgmlMatMulQ0(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                  int64_t ldy);

// The AVX512-VNNI kernels run when the CPU has them and they are enabled
// (default); tests switch them off to compare against the portable steps.
bool GgmlMatMulQ0FastAvailable();
void SetGgmlMatMulQ0FastEnabled(bool enabled);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_GGML_Q0_H_
