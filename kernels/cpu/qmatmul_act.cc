// Activation rows of the integer MatMul (step 1 of the contract in
// kernels/cpu/qmatmul.h): ggml's x86 vec_dot_type conversions.
#include <cstring>

#include "absl/status/status.h"
#include "kernels/cpu/qmatmul.h"
#include "quant/act_quant.h"
#include "quant/float16.h"
#include "quant/quantize.h"
#include "runtime/check.h"

namespace sov::kernels::internal {

size_t ActRowBytes(ActFormat f, int64_t k) {
  switch (f) {
    case ActFormat::kQ8_K:
      return RowBytes(DType::kQ8_K, k);
    case ActFormat::kQ8_0:
      return ActTablesOffset(sizeof(BlockQ8_0), k / kQK) + static_cast<size_t>(k / kQK) * 8;
    case ActFormat::kQ8_1:
      return ActTablesOffset(sizeof(BlockQ8_1), k / kQK) + static_cast<size_t>(k / kQK) * 8;
  }
  return 0;
}

void QuantizeActRow(ActFormat f, const float* x, int64_t k, void* dst) {
  const int64_t bs = f == ActFormat::kQ8_K ? kQK_K : kQK;
  SOV_CHECK(k % bs == 0) << "QuantizeActRow: " << k << " values are not whole blocks of " << bs;
  switch (f) {
    case ActFormat::kQ8_K:
      QuantizeActRowQ8K(x, k, static_cast<BlockQ8_K*>(dst));
      return;
    case ActFormat::kQ8_0: {
      auto* blocks = static_cast<BlockQ8_0*>(dst);
      QuantizeActQ8_0(x, blocks, k);
      const int64_t nb = k / kQK;
      uint8_t* tables = static_cast<uint8_t*>(dst) + ActTablesOffset(sizeof(BlockQ8_0), nb);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = Fp16ToFp32(blocks[i].d);
        int32_t sum = 0;
        for (int j = 0; j < kQK; ++j) sum += blocks[i].qs[j];
        std::memcpy(tables + 4 * i, &d, 4);
        std::memcpy(tables + 4 * (nb + i), &sum, 4);
      }
      return;
    }
    case ActFormat::kQ8_1: {
      auto* blocks = static_cast<BlockQ8_1*>(dst);
      QuantizeActQ8_1(x, blocks, k);
      const int64_t nb = k / kQK;
      uint8_t* tables = static_cast<uint8_t*>(dst) + ActTablesOffset(sizeof(BlockQ8_1), nb);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = Fp16ToFp32(blocks[i].d), s = Fp16ToFp32(blocks[i].s);
        std::memcpy(tables + 4 * i, &d, 4);
        std::memcpy(tables + 4 * (nb + i), &s, 4);
      }
      return;
    }
  }
}

}  // namespace sov::kernels::internal
