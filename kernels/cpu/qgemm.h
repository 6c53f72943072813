// Many-token (prefill) GEMM for Q4_K / Q5_K / Q6_K and Q8_0 / Q4_0 / Q5_0
// weights on AVX512-VNNI, with the numerics of qmatmul.h: the same exact
// per-block integers and the same sequential float combination per output,
// so y is bitwise what QMatMul's row dots (and ref::QuantMatMul) give, for
// any T and thread count.
//
// Shape of the kernel: 16 weight rows form a panel, unpacked once per call
// into a scratch where one 64-byte vector holds 4 consecutive k for the 16
// rows (u8), plus per-sub-block int32 scales. A token then broadcasts 4
// activation bytes and one vpdpbusd advances 16 outputs; a register tile
// covers 16 rows x up to 8 tokens. Each vector lane is one output, so the
// float step per block is CombineBlock* done lane-wise.
#ifndef SOV_KERNELS_CPU_QGEMM_H_
#define SOV_KERNELS_CPU_QGEMM_H_

#include <cstddef>
#include <cstdint>

#include "kernels/api.h"
#include "quant/dtype.h"

namespace sov::kernels::internal {

// Tokens from which QMatMul hands a supported weight type to QGemm. On
// 2048 x 1536 (qmatmul_bench, 2 threads, one run) QGemm vs the row dots was at
// T = 4: Q4_K 0.85x (its 4-token row dot is strong), Q5_K/Q6_K/Q8_0
// 1.15-1.35x; at T = 8: Q4_K 1.4x, the others 2.0-2.4x. One threshold keeps
// the rule simple: below it the 8-token tile runs part empty and the panel
// unpack is barely amortized.
inline constexpr int64_t kQGemmMinTokens = 8;

// True if QGemm handles `t` on this CPU (AVX512-VNNI present and the VNNI
// kernels enabled, see QMatMulVnniActive).
bool QGemmSupports(DType t);

// y[t * ldy + n] = dot(row n of w, activation row t) for t < T, n < w.rows.
// `act` holds T activation rows already quantized as qmatmul.h step 1 says
// (QuantizeActRow: Q8_K for the K-quants, Q8_0 with its d / qsum tables for
// the others), `arow` bytes apart. Requires QGemmSupports(w.dtype).
void QGemm(const uint8_t* act, size_t arow, int64_t T, const WeightView& w, float* y, int64_t ldy);

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_QGEMM_H_
