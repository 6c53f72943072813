// Public entry points of quant/: byte-exact ggml quantization of float32 rows
// and dequantization of any supported weight row (spec quantization.md).
#ifndef SOV_QUANT_QUANTIZE_H_
#define SOV_QUANT_QUANTIZE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "quant/dtype.h"

namespace sov {

// True for the types QuantizeRows can produce: F32, F16, BF16, Q8_0, Q4_K,
// Q5_K, Q6_K, Q8_K, and (reference path only) Q4_0, Q4_1, Q5_0, Q5_1.
bool CanQuantize(DType t);

// True for the types DequantizeRow can read: the same set.
bool CanDequantize(DType t);

// Quantizes `rows` row-major rows of `cols` floats into dst (rows *
// RowBytes(t, cols) bytes), with the bytes of ggml's ggml_quantize_chunk on
// x86-64. `imatrix` (nullable) holds `cols` importance values, one per column,
// the same for every row; Q4_K, Q5_K and Q6_K use it, Q8_0/Q8_K and the
// float types ignore it (as ggml does), and Q4_0/Q4_1/Q5_0/Q5_1 refuse it
// (ggml's importance-weighted path for them is not implemented). Errors: unsupported type, cols not a multiple of the block
// size, negative sizes, a non-finite importance value (llama-quantize
// rejects those too; negative values are accepted, as ggml does).
// Rows are independent: callers may split a matrix across threads.
absl::Status QuantizeRows(DType t, const float* src, int64_t rows, int64_t cols,
                          const float* imatrix, void* dst);

// dst[0..n) = the n elements that start at src (a row or a block-aligned part
// of one). n must be a multiple of BlockSize(t) and CanDequantize(t) true;
// both are invariants of a validated tensor, so violations abort.
void DequantizeRow(DType t, const void* src, float* dst, int64_t n);

}  // namespace sov

#endif  // SOV_QUANT_QUANTIZE_H_
