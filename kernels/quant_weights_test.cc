// MatMul (mode kDequantF32: dequantized row by row into f32 and run through
// the f32 tiles) and EmbeddingGather with block-quantized weights, on every compiled target via
// the public entry points.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"
#include "kernels/weight_row.h"
#include "quant/dtype.h"
#include "quant/quantize.h"

namespace sov::kernels {
namespace {

using test_util::kU32;

struct QuantMatrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// Quantizable types go through QuantizeRows; the read-only legacy types get
// random blocks whose fp16 scale (and min) fields are small finite values.
QuantMatrix MakeQuant(DType t, int64_t rows, int64_t cols, uint64_t seed) {
  QuantMatrix m;
  const size_t rb = RowBytes(t, cols);
  m.bytes.assign(rb * rows, 0);
  if (CanQuantize(t)) {
    const auto vals = test_util::RandomFloats(rows * cols, seed);
    const absl::Status s = QuantizeRows(t, vals.data(), rows, cols, nullptr, m.bytes.data());
    EXPECT_TRUE(s.ok()) << s;
  } else {
    std::mt19937_64 rng(seed);
    for (uint8_t& b : m.bytes) b = static_cast<uint8_t>(rng());
    const int64_t bs = TypeSize(t);
    const bool has_min = t == DType::kQ4_1 || t == DType::kQ5_1;
    std::uniform_real_distribution<float> dist(0.01f, 0.1f);
    for (size_t off = 0; off < m.bytes.size(); off += bs) {
      const uint16_t d = F32ToF16(dist(rng)), mn = F32ToF16(-dist(rng));
      std::memcpy(&m.bytes[off], &d, 2);
      if (has_min) std::memcpy(&m.bytes[off + 2], &mn, 2);
    }
  }
  m.view = {m.bytes.data(), t, rows, cols, rb};
  return m;
}

class QuantWeightsTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(QuantWeightsTest);

const DType kTypes[] = {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                        DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1};

// The dequantize-to-f32 path. Q8_0/Q4_K/Q5_K/Q6_K take the integer path by
// default (activation quantization; kernels/qmatmul_test.cc covers it).
TEST_P(QuantWeightsTest, MatMulMatchesReference) {
  SetQuantMatMulMode(QuantMatMulMode::kDequantF32);
  struct Restore {
    ~Restore() { SetQuantMatMulMode(QuantMatMulMode::kInteger); }
  } restore;
  for (DType t : kTypes) {
    if (!CanDecodeRows(t)) {
      ADD_FAILURE() << Name(t) << " rows cannot be decoded in this build";
      continue;
    }
    for (int64_t T : {1, 5}) {
      const int64_t N = 7, K = 512;
      const auto m = MakeQuant(t, N, K, 11 + static_cast<int>(t));
      const auto x = test_util::RandomFloats(T * K, 3 + T);
      std::vector<float> y(T * N), yr(T * N), wrow(K);
      MatMul(x.data(), T, K, m.view, y.data(), N);
      ref::MatMul(x.data(), T, K, m.view, yr.data(), N);
      for (int64_t n = 0; n < N; ++n) {
        DecodeRow(m.view, n, wrow.data());
        for (int64_t tt = 0; tt < T; ++tt) {
          double mag = 0;
          for (int64_t k = 0; k < K; ++k) mag += std::fabs(double{x[tt * K + k]} * wrow[k]);
          // Both sides use the same decoded f32 weights: the f32 MatMul bound.
          ASSERT_LE(std::fabs(double{y[tt * N + n]} - yr[tt * N + n]), (K + 1) * kU32 * mag)
              << Name(t) << " T=" << T << " n=" << n;
        }
      }
    }
  }
}

TEST_P(QuantWeightsTest, EmbeddingGatherMatchesReference) {
  for (DType t : kTypes) {
    if (!CanDecodeRows(t)) continue;
    const int64_t V = 9, H = 256;
    const auto m = MakeQuant(t, V, H, 5);
    const int32_t ids[] = {8, 0, 4};
    std::vector<float> out(3 * H), outr(3 * H);
    EmbeddingGather(m.view, ids, 3, 16.0f, out.data(), H);
    ref::EmbeddingGather(m.view, ids, 3, 16.0f, outr.data(), H);
    ASSERT_EQ(0, std::memcmp(out.data(), outr.data(), out.size() * 4)) << Name(t);
  }
}

TEST(QuantWeightsDeathTest, UnsupportedDTypeIsNamed) {
  std::vector<uint8_t> bytes(64);
  const WeightView w{bytes.data(), DType::kI32, 2, 8, 32};
  std::vector<float> x(8), y(2);
  EXPECT_DEATH(MatMul(x.data(), 1, 8, w, y.data(), 2), "i32");
}

}  // namespace
}  // namespace sov::kernels
