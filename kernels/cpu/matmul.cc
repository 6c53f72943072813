// MatMul entry point: validates the views and picks the per-dtype kernel.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/api.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/weight_row.h"
#include "runtime/check.h"

namespace sov::kernels {
namespace {

QuantMatMulMode ModeFromEnv() {
  const char* v = std::getenv("SOV_QMATMUL");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "int") == 0) return QuantMatMulMode::kInteger;
  SOV_CHECK(std::strcmp(v, "f32") == 0)
      << "SOV_QMATMUL must be \"int\" or \"f32\", got \"" << v << "\"";
  return QuantMatMulMode::kDequantF32;
}

std::atomic<QuantMatMulMode>& Mode() {
  static std::atomic<QuantMatMulMode> mode{ModeFromEnv()};
  return mode;
}

}  // namespace

void SetQuantMatMulMode(QuantMatMulMode mode) { Mode().store(mode); }
QuantMatMulMode GetQuantMatMulMode() { return Mode().load(); }


void MatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  SOV_CHECK(ldx >= w.cols && ldy >= w.rows)
      << "MatMul: strides ldx " << ldx << " / ldy " << ldy << " below the row widths " << w.cols
      << " / " << w.rows;
  SOV_CHECK(w.row_bytes >= RowBytes(w.dtype, w.cols))
      << "MatMul: row_bytes " << w.row_bytes << " too small for " << w.cols << " " << Name(w.dtype);
  if (T <= 0 || w.rows <= 0) return;
  switch (w.dtype) {
    case DType::kF32:
      return internal::MatMulF32(x, T, ldx, w, y, ldy);
    case DType::kBF16:
      return internal::MatMulBF16(x, T, ldx, w, y, ldy);
    case DType::kF16:
      return internal::MatMulF16(x, T, ldx, w, y, ldy);
    default:
      SOV_CHECK(CanDecodeRows(w.dtype))
          << "MatMul: weight dtype " << Name(w.dtype)
          << " is not supported";
      if (GetQuantMatMulMode() == QuantMatMulMode::kInteger && internal::QMatMulSupports(w.dtype)) {
        return internal::QMatMul(x, T, ldx, w, y, ldy);
      }
      return internal::MatMulQuant(x, T, ldx, w, y, ldy);
  }
}

}  // namespace sov::kernels
