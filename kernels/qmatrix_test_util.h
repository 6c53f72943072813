// Quantized weight matrices for the quantized-MatMul tests (qmatmul_test,
// qmatmul_legacy_test, qgemm_test): realistic blocks fitted by quant/, and
// blocks of random bytes with fp16 block scales drawn from subnormals to
// +-65504 (zero included) so every quant value, 6-bit scale and min occurs.
#ifndef SOV_KERNELS_QMATRIX_TEST_UTIL_H_
#define SOV_KERNELS_QMATRIX_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/api.h"
#include "kernels/test_util.h"
#include "quant/dtype.h"
#include "quant/quantize.h"

namespace sov::kernels::test_util {

struct QMatrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// Fits uniform random values with quant/'s quantizer.
inline QMatrix Quantized(DType t, int64_t rows, int64_t cols, uint64_t seed) {
  QMatrix m;
  const size_t rb = RowBytes(t, cols);
  m.bytes.assign(rb * rows, 0);
  const auto vals = RandomFloats(rows * cols, seed);
  EXPECT_TRUE(QuantizeRows(t, vals.data(), rows, cols, nullptr, m.bytes.data()).ok());
  m.view = WeightView{m.bytes.data(), t, rows, cols, rb};
  return m;
}

// Random bytes everywhere (Q6_K's int8 scales and Q8_0's quants include
// -128), then each block's fp16 scale fields overwritten: d, and dmin (K-quants)
// or m (Q4_1/Q5_1). Q6_K keeps its d after the 208 bytes of quants and scales.
inline QMatrix RandomBlocks(DType t, int64_t rows, int64_t cols, uint64_t seed) {
  QMatrix m;
  const size_t rb = RowBytes(t, cols);
  m.bytes.resize(rb * rows);
  std::mt19937_64 rng(seed);
  for (uint8_t& b : m.bytes) b = static_cast<uint8_t>(rng());
  const uint16_t kScales[] = {0x0001, 0x03FF, 0x0400, 0x1400, 0x2E66,
                              0x3C00, 0x7BFF, 0xFBFF, 0xAE66, 0x0000};
  auto pick = [&] { return kScales[rng() % (sizeof(kScales) / sizeof(kScales[0]))]; };
  const bool second = t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ4_1 ||
                      t == DType::kQ5_1;
  const size_t bb = RowBytes(t, BlockSize(t));
  for (size_t off = 0; off < m.bytes.size(); off += bb) {
    uint8_t* blk = m.bytes.data() + off;
    const uint16_t d = pick(), d2 = pick();
    std::memcpy(blk + (t == DType::kQ6_K ? 208 : 0), &d, 2);
    if (second) std::memcpy(blk + 2, &d2, 2);
  }
  m.view = WeightView{m.bytes.data(), t, rows, cols, rb};
  return m;
}

}  // namespace sov::kernels::test_util

#endif  // SOV_KERNELS_QMATRIX_TEST_UTIL_H_
