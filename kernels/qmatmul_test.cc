// Integer-dot-product MatMul (kernels/cpu/qmatmul.h) against its scalar oracle
// ref::QuantMatMul: bitwise, with the VNNI kernels on and off, odd token
// counts, several row counts, random blocks with extreme scales; plus thread
// and batch invariance, and an accuracy bound against the f32 path derived
// from the activation rounding.
#include "kernels/cpu/qmatmul.h"

#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/qmatrix_test_util.h"
#include "kernels/test_util.h"
#include "kernels/weight_row.h"
#include "quant/float16.h"
#include "quant/quantize.h"

namespace sov::kernels {
namespace {

using test_util::kU32;

constexpr DType kTypes[] = {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_0};

using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Activations with a wide dynamic range, an all-zero token and single spikes.
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 99);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    switch (t % 5) {
      case 1:
        for (int64_t k = 0; k < K; ++k) r[k] *= std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
        break;
      case 2:
        std::fill(r, r + K, 0.0f);
        break;
      case 3:
        r[rng() % K] = 3.0e4f;
        break;
      case 4:
        for (int64_t k = 0; k < K; ++k) r[k] *= 1e-30f;
        break;
    }
  }
  return x;
}

class QMatMulTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !internal::QMatMulVnniAvailable()) GTEST_SKIP() << "no AVX512-VNNI here";
    internal::SetQMatMulVnniEnabled(GetParam());
    SetQuantMatMulMode(QuantMatMulMode::kInteger);
  }
  void TearDown() override { internal::SetQMatMulVnniEnabled(true); }
};

void ExpectBitwise(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST_P(QMatMulTest, BitwiseEqualsReference) {
  ASSERT_EQ(internal::QMatMulVnniActive(), GetParam());
  int seed = 1;
  for (DType t : kTypes) {
    for (int64_t T : {1, 2, 3, 7, 17, 64, 65, 70}) {
      for (int64_t N : {1, 9, 40}) {
        const int64_t K = (T % 2) ? 512 : 768;
        for (bool random_blocks : {false, true}) {
          const QMatrix m =
              random_blocks ? RandomBlocks(t, N, K, ++seed) : Quantized(t, N, K, ++seed);
          const auto x = Activations(T, K, ++seed);
          std::vector<float> y(T * N, -1.0f), yr(T * N, -2.0f);
          MatMul(x.data(), T, K, m.view, y.data(), N);
          ref::QuantMatMul(x.data(), T, K, m.view, yr.data(), N);
          SCOPED_TRACE(testing::Message() << Name(t) << " T=" << T << " N=" << N
                                          << " random_blocks=" << random_blocks);
          ExpectBitwise(y, yr, "kernel vs reference");
        }
      }
    }
  }
}

TEST_P(QMatMulTest, StridesThreadsAndBatchInvariance) {
  for (DType t : kTypes) {
    const int64_t T = 13, N = 300, K = 1536, ldx = K + 5, ldy = N + 3;
    const QMatrix m = Quantized(t, N, K, 7);
    const auto x = Activations(T, ldx, 8);
    std::vector<float> y1(T * ldy, 0.0f), y2(T * ldy, 0.0f);
    tbb::task_arena(1).execute([&] { MatMul(x.data(), T, ldx, m.view, y1.data(), ldy); });
    tbb::task_arena(2).execute([&] { MatMul(x.data(), T, ldx, m.view, y2.data(), ldy); });
    ExpectBitwise(y1, y2, "1 vs 2 threads");
    for (int64_t tt = 0; tt < T; ++tt) {
      std::vector<float> one(N);
      MatMul(x.data() + tt * ldx, 1, ldx, m.view, one.data(), N);
      ExpectBitwise(one, std::vector<float>(y1.begin() + tt * ldy, y1.begin() + tt * ldy + N),
                    "T=1 vs row of a batch");
    }
  }
}

// The integer path differs from "decoded weights, f32 dot" only by the
// activation rounding and float roundings. Per element, |x - d q| <= 0.51 |d|
// for Q8_K (nearest-int of a rounded product; d = 1/iscale), and for Q8_0 add
// 127 |d - fp16(d)| <= 127 * 2^-11 |d| (quants use the fp32 d, the dot the fp16
// one): so |dy| <= sum_k |w_k| c |d_b(k)| + (2 nb + K + 4) u sum_k |w_k| (|x_k| + c|d|)
// with c = 0.51 + 0.063 = 0.573 < 0.6.
TEST_P(QMatMulTest, CloseToDequantizedF32) {
  for (DType t : kTypes) {
    const int64_t T = 3, N = 16, K = 1536;
    const QMatrix m = Quantized(t, N, K, 21);
    const auto x = test_util::RandomFloats(T * K, 22);
    std::vector<float> y(T * N), w(K);
    MatMul(x.data(), T, K, m.view, y.data(), N);
    const int64_t bs = t == DType::kQ8_0 ? 32 : 256, nb = K / bs;
    for (int64_t n = 0; n < N; ++n) {
      DecodeRow(m.view, n, w.data());
      for (int64_t tt = 0; tt < T; ++tt) {
        const float* xr = x.data() + tt * K;
        double exact = 0, quant_err = 0, mag = 0;
        for (int64_t b = 0; b < nb; ++b) {
          double amax = 0;
          for (int64_t k = b * bs; k < (b + 1) * bs; ++k)
            amax = std::max(amax, std::fabs(double{xr[k]}));
          const double dq = 0.6 * amax / 127;
          for (int64_t k = b * bs; k < (b + 1) * bs; ++k) {
            exact += double{xr[k]} * w[k];
            quant_err += std::fabs(double{w[k]}) * dq;
            mag += std::fabs(double{w[k]}) * (std::fabs(double{xr[k]}) + dq);
          }
        }
        const double bound = quant_err + (2 * nb + K + 4) * kU32 * mag;
        EXPECT_LE(std::fabs(y[tt * N + n] - exact), bound) << Name(t) << " n=" << n << " t=" << tt;
        // Not vacuous: the bound is a small fraction of the magnitudes.
        EXPECT_LT(bound, 0.02 * mag);
      }
    }
  }
}

TEST_P(QMatMulTest, F32ModeKeepsTheDequantizedPath) {
  for (DType t : kTypes) {
    const int64_t T = 5, N = 7, K = 512;
    const QMatrix m = Quantized(t, N, K, 31);
    const auto x = test_util::RandomFloats(T * K, 32);
    std::vector<float> yi(T * N), yf(T * N), yr(T * N);
    MatMul(x.data(), T, K, m.view, yi.data(), N);
    SetQuantMatMulMode(QuantMatMulMode::kDequantF32);
    MatMul(x.data(), T, K, m.view, yf.data(), N);
    SetQuantMatMulMode(QuantMatMulMode::kInteger);
    ref::MatMul(x.data(), T, K, m.view, yr.data(), N);
    bool differs = false;
    for (int64_t i = 0; i < T * N; ++i) {
      // f32 path: within the f32 MatMul bound of the f32 reference (loose form).
      EXPECT_NEAR(yf[i], yr[i], 1e-4 * (1 + std::fabs(yr[i]))) << Name(t);
      differs |= yf[i] != yi[i];
    }
    EXPECT_TRUE(differs) << Name(t) << ": the integer path should round activations";
  }
}

INSTANTIATE_TEST_SUITE_P(Vnni, QMatMulTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "vnni" : "portable"; });

TEST(QMatMulCpu, VnniDetectedWhereTheCpuHasIt) {
  const bool cpu = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512bw");
  EXPECT_EQ(internal::QMatMulVnniAvailable(), cpu);
}

}  // namespace
}  // namespace sov::kernels
