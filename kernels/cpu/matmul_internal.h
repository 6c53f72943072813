// Per-weight-type MatMul entry points (each dispatches over Highway targets).
#ifndef SOV_KERNELS_CPU_MATMUL_INTERNAL_H_
#define SOV_KERNELS_CPU_MATMUL_INTERNAL_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels::internal {

void MatMulF32(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
void MatMulBF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
void MatMulF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
// Any dtype DecodeRow supports, dequantized row by row into f32.
void MatMulQuant(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                 int64_t ldy);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_MATMUL_INTERNAL_H_
