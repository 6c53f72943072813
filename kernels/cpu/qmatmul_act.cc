// Activation rows of the integer MatMul (step 1 of the contract in
// kernels/cpu/qmatmul.h): ggml's x86 vec_dot_type conversions.
#include "absl/status/status.h"
#include "kernels/cpu/qmatmul.h"
#include "quant/act_quant.h"
#include "quant/quantize.h"
#include "runtime/check.h"

namespace sov::kernels::internal {

size_t ActRowBytes(ActFormat f, int64_t k) {
  switch (f) {
    case ActFormat::kQ8_K:
      return RowBytes(DType::kQ8_K, k);
    case ActFormat::kQ8_0:
      return static_cast<size_t>(k / kQK) * sizeof(BlockQ8_0);
    case ActFormat::kQ8_1:
      return static_cast<size_t>(k / kQK) * sizeof(BlockQ8_1);
  }
  return 0;
}

void QuantizeActRow(ActFormat f, const float* x, int64_t k, void* dst) {
  const int64_t bs = f == ActFormat::kQ8_K ? kQK_K : kQK;
  SOV_CHECK(k % bs == 0) << "QuantizeActRow: " << k << " values are not whole blocks of " << bs;
  switch (f) {
    case ActFormat::kQ8_K: {
      const absl::Status s = QuantizeRows(DType::kQ8_K, x, 1, k, nullptr, dst);
      SOV_CHECK(s.ok()) << "QuantizeActRow: " << s;
      return;
    }
    case ActFormat::kQ8_0:
      return QuantizeActQ8_0(x, static_cast<BlockQ8_0*>(dst), k);
    case ActFormat::kQ8_1:
      return QuantizeActQ8_1(x, static_cast<BlockQ8_1*>(dst), k);
  }
}

}  // namespace sov::kernels::internal
