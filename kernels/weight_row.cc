#include "kernels/weight_row.h"

#include <cmath>

#include "quant/quantize.h"
#include "runtime/check.h"

namespace sov::kernels {

bool CanDecodeRows(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kBF16:
    case DType::kF16:
      return true;
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ4_1:
      return CanDequantize(t);
    default:
      return false;
  }
}

void DecodeRowRange(const WeightView& w, int64_t r, int64_t c0, int64_t n, float* dst) {
  SOV_CHECK(r >= 0 && r < w.rows) << "weight row " << r << " out of range [0, " << w.rows << ")";
  SOV_CHECK(c0 >= 0 && n >= 0 && c0 + n <= w.cols) << "column range out of bounds";
  const uint8_t* row = w.row(r);
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(dst, reinterpret_cast<const float*>(row) + c0, static_cast<size_t>(n) * 4);
      return;
    case DType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c0;
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(p[i]);
      return;
    }
    case DType::kF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c0;
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(p[i]);
      return;
    }
    default:
      break;
  }
  SOV_CHECK(CanDecodeRows(w.dtype))
      << "weight dtype " << Name(w.dtype)
      << " is not supported by the kernels";
  const int64_t bs = BlockSize(w.dtype);
  SOV_CHECK(c0 % bs == 0 && n % bs == 0)
      << "quantized column range must be block aligned (block " << bs << ")";
  const uint8_t* src = row + static_cast<size_t>(c0 / bs) * static_cast<size_t>(TypeSize(w.dtype));
  DequantizeRow(w.dtype, src, dst, n);
}

void DecodeRow(const WeightView& w, int64_t r, float* dst) { DecodeRowRange(w, r, 0, w.cols, dst); }

}  // namespace sov::kernels
