// Prefill GEMM (kernels/cpu/qgemm.h) against the scalar oracle
// ref::QuantMatMul and against the single-token path, bitwise: E2B-like K,
// token counts around the 8-token register tile and the QMatMul threshold,
// row counts around the 16-row panel, realistic and random blocks, 1 vs 2
// threads, VNNI on (QGemm) vs off (portable row dots).
#include "kernels/cpu/qgemm.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/reference/reference.h"
#include "kernels/qmatrix_test_util.h"
#include "kernels/test_util.h"
#include "quant/quantize.h"

namespace sov::kernels {
namespace {

constexpr DType kTypes[] = {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                            DType::kQ8_0, DType::kQ4_0, DType::kQ5_0};

bool IsKQuant(DType t) { return BlockSize(t) == kQK_K; }

using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Wide dynamic range per token, plus an all-zero token and a spike.
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 7);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    if (t % 4 == 1) {
      const float s = std::ldexp(1.0f, static_cast<int>(rng() % 30) - 15);
      for (int64_t k = 0; k < K; ++k) r[k] *= s;
    } else if (t % 4 == 2) {
      std::fill(r, r + K, 0.0f);
    } else if (t % 4 == 3) {
      r[rng() % K] = 2.0e4f;
    }
  }
  return x;
}

void ExpectBitwise(const std::vector<float>& a, const std::vector<float>& b, int64_t T, int64_t N,
                   int64_t ld, const char* what) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) {
      const float fa = a[t * ld + n], fb = b[t * ld + n];
      uint32_t ua, ub;
      std::memcpy(&ua, &fa, 4);
      std::memcpy(&ub, &fb, 4);
      ASSERT_EQ(ua, ub) << what << " at t=" << t << " n=" << n << ": " << fa << " vs " << fb;
    }
  }
}

// QGemm on activations quantized the way QMatMul quantizes them.
std::vector<float> RunQGemm(const std::vector<float>& x, int64_t T, const WeightView& w,
                            int64_t ldy) {
  const int64_t K = w.cols;
  const auto f = IsKQuant(w.dtype) ? internal::ActFormat::kQ8_K : internal::ActFormat::kQ8_0;
  const size_t arow = internal::ActRowBytes(f, K);
  std::vector<uint8_t> act(arow * T);
  for (int64_t t = 0; t < T; ++t)
    internal::QuantizeActRow(f, x.data() + t * K, K, act.data() + arow * t);
  std::vector<float> y(T * ldy, -7.0f);
  internal::QGemm(act.data(), arow, T, w, y.data(), ldy);
  return y;
}

class QGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    internal::SetQMatMulVnniEnabled(true);
    if (!internal::QMatMulVnniAvailable()) GTEST_SKIP() << "no AVX512-VNNI here";
    SetQuantMatMulMode(QuantMatMulMode::kInteger);
  }
  void TearDown() override { internal::SetQMatMulVnniEnabled(true); }
};

TEST_F(QGemmTest, SupportsItsTypesOnlyWhileVnniIsOn) {
  for (DType t : kTypes) EXPECT_TRUE(internal::QGemmSupports(t)) << Name(t);
  EXPECT_FALSE(internal::QGemmSupports(DType::kQ4_1));
  EXPECT_FALSE(internal::QGemmSupports(DType::kF32));
  internal::SetQMatMulVnniEnabled(false);
  EXPECT_FALSE(internal::QGemmSupports(DType::kQ4_K));
}

// Direct QGemm and MatMul (which hands T >= kQGemmMinTokens to QGemm) against
// the reference, for every T around the tile and threshold sizes.
TEST_F(QGemmTest, BitwiseEqualsReference) {
  uint64_t seed = 100;
  for (DType t : kTypes) {
    for (int64_t T : {1, 3, 4, 5, 8, 9, 16, 17, 64, 100}) {
      for (int64_t N : {7, 33}) {
        // The 32-element types also get K = 640 and 1056 (8-block groups
        // with 4 and 1 blocks left over).
        const int64_t K = IsKQuant(t) ? (T % 2 ? 1536 : 2048) : (T % 2 ? 1056 : 640);
        for (bool random_blocks : {false, true}) {
          SCOPED_TRACE(testing::Message() << Name(t) << " T=" << T << " N=" << N << " K=" << K
                                          << " random_blocks=" << random_blocks);
          const QMatrix m =
              random_blocks ? RandomBlocks(t, N, K, ++seed) : Quantized(t, N, K, ++seed);
          const auto x = Activations(T, K, ++seed);
          const int64_t ldy = N + 3;
          std::vector<float> yr(T * ldy, -1.0f), ym(T * ldy, -2.0f);
          ref::QuantMatMul(x.data(), T, K, m.view, yr.data(), ldy);
          ExpectBitwise(RunQGemm(x, T, m.view, ldy), yr, T, N, ldy, "QGemm vs reference");
          MatMul(x.data(), T, K, m.view, ym.data(), ldy);
          ExpectBitwise(ym, yr, T, N, ldy, "MatMul vs reference");
        }
      }
    }
  }
}

// E2B's long rows (FFN down projections: K = 6144 and 12288): each token of a
// batch equals the single-token (row dot) call.
TEST_F(QGemmTest, LongRowsMatchSingleTokenPath) {
  uint64_t seed = 500;
  for (DType t : kTypes) {
    for (int64_t K : {6144, 12288}) {
      const int64_t T = 17, N = 19;
      SCOPED_TRACE(testing::Message() << Name(t) << " K=" << K);
      const QMatrix m = Quantized(t, N, K, ++seed);
      const auto x = Activations(T, K, ++seed);
      std::vector<float> y(T * N);
      MatMul(x.data(), T, K, m.view, y.data(), N);
      std::vector<float> one(T * N);
      for (int64_t tt = 0; tt < T; ++tt)
        MatMul(x.data() + tt * K, 1, K, m.view, one.data() + tt * N, N);
      ExpectBitwise(y, one, T, N, N, "batch vs T=1");
      if (K == 6144) {
        std::vector<float> yr(T * N);
        ref::QuantMatMul(x.data(), T, K, m.view, yr.data(), N);
        ExpectBitwise(y, yr, T, N, N, "batch vs reference");
      }
    }
  }
}

TEST_F(QGemmTest, ThreadCountAndVnniDoNotChangeResults) {
  for (DType t : kTypes) {
    const int64_t T = 37, N = 100, K = 1536;
    SCOPED_TRACE(Name(t));
    const QMatrix m = Quantized(t, N, K, 900);
    const auto x = Activations(T, K, 901);
    std::vector<float> y1(T * N), y2(T * N), yp(T * N);
    tbb::task_arena(1).execute([&] { MatMul(x.data(), T, K, m.view, y1.data(), N); });
    tbb::task_arena(2).execute([&] { MatMul(x.data(), T, K, m.view, y2.data(), N); });
    ExpectBitwise(y1, y2, T, N, N, "1 vs 2 threads");
    internal::SetQMatMulVnniEnabled(false);
    MatMul(x.data(), T, K, m.view, yp.data(), N);
    internal::SetQMatMulVnniEnabled(true);
    ExpectBitwise(y1, yp, T, N, N, "QGemm vs portable row dots");
  }
}

// Outputs outside [0, N) of each token row (the padding of ldy) stay untouched:
// the last panel's missing rows are masked.
TEST_F(QGemmTest, WritesOnlyTheOutputRows) {
  const int64_t T = 9, N = 21, K = 512, ldy = 40;
  const QMatrix m = Quantized(DType::kQ4_K, N, K, 77);
  const auto x = Activations(T, K, 78);
  const auto y = RunQGemm(x, T, m.view, ldy);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = N; n < ldy; ++n) ASSERT_EQ(y[t * ldy + n], -7.0f) << t << " " << n;
}

}  // namespace
}  // namespace sov::kernels
