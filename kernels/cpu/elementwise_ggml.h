// Element-wise and normalisation ops with the float order of llama.cpp's CPU
// backend (the "ggml" numerics mode, runtime/numerics.h): results are bitwise
// what libggml-cpu gives for the same inputs, for any row count and thread
// count. Each has the signature of the kernels/api.h op it replaces there.
//
// Audit against libggml-cpu (Gemma 3 270M shapes, T in {1, 5, 64}, 1 and 2
// threads): kernels::Scale (ggml_scale), kernels::Add (ggml_add) and
// kernels::EmbeddingGather of Q8_0 rows times sqrt(640) (ggml_get_rows +
// ggml_scale) are already bitwise equal and need no variant here. These
// differ and are reproduced below:
//   * RMSNorm (whole rows and the per-head q/k norms) and AddRMSNorm: ggml
//     sums the squares in double, sequentially. (kernels::AddRMSNorm's
//     residual x + (d * s) * w is also fused into one FMA by GCC on the AVX2
//     and AVX-512 targets, which ggml's separate ggml_mul / ggml_add never is.)
//   * GeluTanhMulF16Table differed in one of its 65536 table entries (gate
//     fp16 0xbfff, -1.99902) because the ggml build contracts 1 + a*x*x into
//     an FMA; kernels/cpu/gelu_f16.cc now builds the table that way.
//
// Cost: the sequential double sum is kept bit for bit but mostly taken 64
// elements at a time where that is provably exact (elementwise_ggml.cc), so
// these norms run at ~2-3x the time of kernels::RMSNorm / AddRMSNorm (a
// plain sequential loop, as in ggml, is ~8x).
#ifndef SOV_KERNELS_CPU_ELEMENTWISE_GGML_H_
#define SOV_KERNELS_CPU_ELEMENTWISE_GGML_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels {

// kernels::RMSNorm with ggml_rms_norm (+ ggml_mul by weight) arithmetic
// (ggml-cpu ops.cpp ggml_compute_forward_rms_norm_f32), per row:
//   sum   = 0.0 (double); for i in order: sum += double(float(x_i * x_i))
//   mean  = float(sum / double(dim))
//   scale = 1.0f / sqrtf(mean + eps)
//   y_i   = (x_i * scale) * weight_i   (float, two roundings; no weight: x_i * scale)
// The double sum is strictly sequential, as in ggml. y may equal x (same ld).
// (RMSNormGgml, declared in kernels/api.h.)

// kernels::AddRMSNorm as llama.cpp's separate ops: per row
//   x_i = float((delta_i * s_delta) * w_post_i) + x_i   (ggml_rms_norm, ggml_mul,
//         ggml_add: the product is rounded before the add, never fused)
// then, if y != nullptr, y = RMSNormGgml(x; w_next) (w_next may be null).
// (AddRMSNormGgml, declared in kernels/api.h.)

namespace internal {
// ggml's sum of squares of one row: sum = 0.0; for i in order:
// sum += double(float(x_i * x_i)). Bitwise that; faster where provably equal.
double GgmlSumSquares(const float* x, int64_t dim);
}  // namespace internal

}  // namespace sov::kernels

#endif  // SOV_KERNELS_CPU_ELEMENTWISE_GGML_H_
