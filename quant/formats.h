// Per-format row quantizers and dequantizers, one translation unit each
// (q8_0.cc, q4_k.cc, q5_k.cc, q6_k.cc, q8_k.cc, legacy.cc, legacy_quantize.cc,
// float_rows.cc).
// The public entry points are in quant/quantize.h; these are what it calls.
// `n` / `k` counts elements and must be a multiple of the block size.
#ifndef SOV_QUANT_FORMATS_H_
#define SOV_QUANT_FORMATS_H_

#include <cstdint>

#include "quant/blocks.h"

namespace sov::quant_internal {

// Quantizers. `qw` is the importance vector for the n columns of one row
// (null: the reference path). Q8_0 and Q8_K have no importance-matrix path.
void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void QuantizeRowQ4_K(const float* x, BlockQ4_K* y, int64_t n, const float* qw);
void QuantizeRowQ5_K(const float* x, BlockQ5_K* y, int64_t n, const float* qw);
void QuantizeRowQ6_K(const float* x, BlockQ6_K* y, int64_t n, const float* qw);
void QuantizeRowQ8_K(const float* x, BlockQ8_K* y, int64_t n);
void QuantizeRowF16(const float* x, uint16_t* y, int64_t n);
void QuantizeRowBF16(const float* x, uint16_t* y, int64_t n);
// Reference path only (ggml's *_ref): ggml's importance-weighted path for
// these four types is not implemented.
void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n);
void QuantizeRowQ4_1(const float* x, BlockQ4_1* y, int64_t n);
void QuantizeRowQ5_0(const float* x, BlockQ5_0* y, int64_t n);
void QuantizeRowQ5_1(const float* x, BlockQ5_1* y, int64_t n);

void DequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n);
void DequantizeRowQ4_K(const BlockQ4_K* x, float* y, int64_t n);
void DequantizeRowQ5_K(const BlockQ5_K* x, float* y, int64_t n);
void DequantizeRowQ6_K(const BlockQ6_K* x, float* y, int64_t n);
void DequantizeRowQ8_K(const BlockQ8_K* x, float* y, int64_t n);
void DequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n);
void DequantizeRowQ4_1(const BlockQ4_1* x, float* y, int64_t n);
void DequantizeRowQ5_0(const BlockQ5_0* x, float* y, int64_t n);
void DequantizeRowQ5_1(const BlockQ5_1* x, float* y, int64_t n);
void DequantizeRowF16(const uint16_t* x, float* y, int64_t n);
void DequantizeRowBF16(const uint16_t* x, float* y, int64_t n);

}  // namespace sov::quant_internal

#endif  // SOV_QUANT_FORMATS_H_
