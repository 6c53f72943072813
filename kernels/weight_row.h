// Decoding one weight row to float32, shared by the scalar references and the
// CPU kernels' fallback path for block-quantized dtypes.
#ifndef SOV_KERNELS_WEIGHT_ROW_H_
#define SOV_KERNELS_WEIGHT_ROW_H_

#include <cstdint>
#include <cstring>

#include "kernels/api.h"
#include "quant/dtype.h"
#include "quant/float16.h"

namespace sov::kernels {

// 16-bit float conversions: the exact, flag-independent ones of quant/float16.h
// (one implementation for the quantizers, the file writers and the kernels).
inline float Bf16ToF32(uint16_t h) { return Bf16ToFp32(h); }
inline float F16ToF32(uint16_t h) { return Fp16ToFp32(h); }
inline uint16_t F32ToBf16(float f) { return Fp32ToBf16(f); }
inline uint16_t F32ToF16(float f) { return Fp32ToFp16(f); }

// True if rows of this dtype can be decoded: F32, BF16, F16 and the block
// types quant/ can dequantize (Q8_0, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1).
bool CanDecodeRows(DType t);

// dst[0..w.cols) = row r of w as float32. Aborts with a message naming the
// dtype if it cannot be decoded (see CanDecodeRows).
void DecodeRow(const WeightView& w, int64_t r, float* dst);

// The same for columns [c0, c0 + n) of row r; for quantized types c0 and n
// must be multiples of the block size.
void DecodeRowRange(const WeightView& w, int64_t r, int64_t c0, int64_t n, float* dst);

}  // namespace sov::kernels

#endif  // SOV_KERNELS_WEIGHT_ROW_H_
