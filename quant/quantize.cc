#include "quant/quantize.h"

#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "quant/blocks.h"
#include "quant/formats.h"
#include "runtime/check.h"

namespace sov {

bool CanQuantize(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      return true;
    default:
      return false;
  }
}

bool CanDequantize(DType t) { return CanQuantize(t); }

absl::Status QuantizeRows(DType t, const float* src, int64_t rows, int64_t cols,
                          const float* imatrix, void* dst) {
  if (!CanQuantize(t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot quantize to type ", std::string(Name(t)), " (supported: f32, f16, bf16, q8_0, q4_K, q5_K, q6_K, q8_K, q4_0, q4_1, q5_0, q5_1)"));
  }
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative matrix size ", rows, " x ", cols));
  }
  const int64_t bs = BlockSize(t);
  if (cols % bs != 0) {
    return absl::InvalidArgumentError(absl::StrCat("row length ", cols, " is not a multiple of the ",
                                                   std::string(Name(t)), " block size ", bs));
  }
  const bool legacy = t == DType::kQ4_0 || t == DType::kQ4_1 || t == DType::kQ5_0 || t == DType::kQ5_1;
  if (imatrix != nullptr && legacy) {
    // ggml weights these types by the imatrix (a different search than the
    // reference path); silently ignoring it would give other bytes.
    return absl::UnimplementedError(absl::StrCat("importance-weighted ", std::string(Name(t)),
                                                 " quantization is not implemented (only the reference path)"));
  }
  const bool uses_imatrix = t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K;
  if (imatrix != nullptr && uses_imatrix) {
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(imatrix[c])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "importance matrix value ", imatrix[c], " at column ", c, " is not finite"));
      }
    }
  }
  const float* qw = uses_imatrix ? imatrix : nullptr;
  const size_t row_bytes = RowBytes(t, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    void* y = static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * row_bytes;
    switch (t) {
      case DType::kF32:
        std::memcpy(y, x, row_bytes);
        break;
      case DType::kF16:
        quant_internal::QuantizeRowF16(x, static_cast<uint16_t*>(y), cols);
        break;
      case DType::kBF16:
        quant_internal::QuantizeRowBF16(x, static_cast<uint16_t*>(y), cols);
        break;
      case DType::kQ8_0:
        quant_internal::QuantizeRowQ8_0(x, static_cast<BlockQ8_0*>(y), cols);
        break;
      case DType::kQ4_K:
        quant_internal::QuantizeRowQ4_K(x, static_cast<BlockQ4_K*>(y), cols, qw);
        break;
      case DType::kQ5_K:
        quant_internal::QuantizeRowQ5_K(x, static_cast<BlockQ5_K*>(y), cols, qw);
        break;
      case DType::kQ6_K:
        quant_internal::QuantizeRowQ6_K(x, static_cast<BlockQ6_K*>(y), cols, qw);
        break;
      case DType::kQ8_K:
        quant_internal::QuantizeRowQ8_K(x, static_cast<BlockQ8_K*>(y), cols);
        break;
      case DType::kQ4_0:
        quant_internal::QuantizeRowQ4_0(x, static_cast<BlockQ4_0*>(y), cols);
        break;
      case DType::kQ4_1:
        quant_internal::QuantizeRowQ4_1(x, static_cast<BlockQ4_1*>(y), cols);
        break;
      case DType::kQ5_0:
        quant_internal::QuantizeRowQ5_0(x, static_cast<BlockQ5_0*>(y), cols);
        break;
      case DType::kQ5_1:
        quant_internal::QuantizeRowQ5_1(x, static_cast<BlockQ5_1*>(y), cols);
        break;
      default:
        SOV_CHECK(false) << "unreachable";
    }
  }
  return absl::OkStatus();
}

void DequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  SOV_CHECK(CanDequantize(t)) << "cannot dequantize type " << Name(t);
  SOV_CHECK(n >= 0 && n % BlockSize(t) == 0)
      << n << " elements is not a whole number of " << Name(t) << " blocks";
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      return quant_internal::DequantizeRowF16(static_cast<const uint16_t*>(src), dst, n);
    case DType::kBF16:
      return quant_internal::DequantizeRowBF16(static_cast<const uint16_t*>(src), dst, n);
    case DType::kQ8_0:
      return quant_internal::DequantizeRowQ8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case DType::kQ4_K:
      return quant_internal::DequantizeRowQ4_K(static_cast<const BlockQ4_K*>(src), dst, n);
    case DType::kQ5_K:
      return quant_internal::DequantizeRowQ5_K(static_cast<const BlockQ5_K*>(src), dst, n);
    case DType::kQ6_K:
      return quant_internal::DequantizeRowQ6_K(static_cast<const BlockQ6_K*>(src), dst, n);
    case DType::kQ8_K:
      return quant_internal::DequantizeRowQ8_K(static_cast<const BlockQ8_K*>(src), dst, n);
    case DType::kQ4_0:
      return quant_internal::DequantizeRowQ4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case DType::kQ4_1:
      return quant_internal::DequantizeRowQ4_1(static_cast<const BlockQ4_1*>(src), dst, n);
    case DType::kQ5_0:
      return quant_internal::DequantizeRowQ5_0(static_cast<const BlockQ5_0*>(src), dst, n);
    case DType::kQ5_1:
      return quant_internal::DequantizeRowQ5_1(static_cast<const BlockQ5_1*>(src), dst, n);
    default:
      SOV_CHECK(false) << "unreachable";
  }
}

}  // namespace sov
