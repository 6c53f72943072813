// GgmlMatMulQ4K: the AVX512-VNNI kernel equals the portable definition
// bitwise on Gemma 3 270M's Q4_K shapes and token counts on both sides of
// every multiple of 4 (the gemm / gemv split), at 1 and 2 threads; both
// orders, recomputed here step by step from ggml_q4k.h on two superblocks,
// match the kernel; each output depends only on its own token row and on
// whether that row is in a whole group of four; the two orders differ; and
// the 4-row quantizer's scale-sign rule is exercised byte for byte.
#include "kernels/cpu/ggml_q4k.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/qmatrix_test_util.h"
#include "kernels/test_util.h"
#include "quant/blocks.h"
#include "quant/float16.h"

namespace sov::kernels {
namespace {

using test_util::BitwiseDiffs;

using internal::GgmlMatMulQ4K;
using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Rows of varied scale, plus zero rows and spike rows (positive and
// negative, so both scale signs occur).
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 7);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 16) - 8);
    for (int64_t k = 0; k < K; ++k) r[k] *= scale;
    if (t % 5 == 2) r[rng() % K] = 3.0e3f;
    if (t % 5 == 3) r[rng() % K] = -3.0e3f;
    if (t % 7 == 4) std::fill(r, r + K, 0.0f);
  }
  return x;
}

std::vector<float> MatMulQ4K(const std::vector<float>& x, int64_t T, const WeightView& w, bool fast,
                             int threads) {
  std::vector<float> y(static_cast<size_t>(T * w.rows), -1.0f);
  internal::SetGgmlMatMulQ4KFastEnabled(fast);
  tbb::task_arena arena(threads);
  arena.execute([&] { GgmlMatMulQ4K(x.data(), T, w.cols, w, y.data(), w.rows); });
  internal::SetGgmlMatMulQ4KFastEnabled(true);
  return y;
}


struct Shape {
  int64_t K, N;
};
// attn_output (1024 wide) and ffn_down (2048) of Gemma 3 270M, and row counts
// whose task chunks are not multiples of 8.
constexpr Shape kShapes[] = {{1024, 640}, {2048, 640}, {256, 72}, {512, 8}};
constexpr int64_t kTokens[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64};

TEST(GgmlMatMulQ4K, SupportsQ4KWithRowsMultipleOf8) {
  EXPECT_TRUE(internal::GgmlMatMulQ4KSupports(WeightView{nullptr, DType::kQ4_K, 640, 1024, 576}));
  EXPECT_FALSE(internal::GgmlMatMulQ4KSupports(WeightView{nullptr, DType::kQ4_K, 36, 1024, 576}));
  EXPECT_FALSE(internal::GgmlMatMulQ4KSupports(WeightView{nullptr, DType::kQ6_K, 640, 512, 420}));
}

TEST(GgmlMatMulQ4K, FastEqualsPortableBitwise) {
  if (!internal::GgmlMatMulQ4KFastAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  for (const Shape& s : kShapes) {
    // Random bytes: every code, 6-bit scale and min, fp16 d and dmin from
    // subnormal to 65504 (and zero); fitted blocks for one shape.
    const QMatrix w = s.K == 1024 ? Quantized(DType::kQ4_K, s.N, s.K, 11)
                                  : RandomBlocks(DType::kQ4_K, s.N, s.K, s.K * 31 + s.N);
    for (int64_t T : kTokens) {
      const auto x = Activations(T, s.K, T * 131 + s.K);
      const auto portable = MatMulQ4K(x, T, w.view, false, 1);
      for (int threads : {1, 2}) {
        const auto fast = MatMulQ4K(x, T, w.view, true, threads);
        EXPECT_EQ(BitwiseDiffs(fast, portable), 0)
            << "K=" << s.K << " N=" << s.N << " T=" << T << " threads=" << threads;
      }
    }
  }
}

TEST(GgmlMatMulQ4K, ThreadCountDoesNotChangePortable) {
  const QMatrix w = RandomBlocks(DType::kQ4_K, 200, 512, 5);
  for (int64_t T : {3, 9}) {
    const auto x = Activations(T, 512, 6);
    EXPECT_EQ(BitwiseDiffs(MatMulQ4K(x, T, w.view, false, 1), MatMulQ4K(x, T, w.view, false, 2)), 0)
        << T;
  }
}

// Token t's outputs depend only on its row and on t < 4 * floor(T / 4): rows
// 0..7 of a T = 9 call equal a T = 8 call, row 8 equals a T = 1 call.
TEST(GgmlMatMulQ4K, OrderDependsOnlyOnWholeGroupsOfFour) {
  constexpr int64_t K = 1024, N = 64;
  const QMatrix w = Quantized(DType::kQ4_K, N, K, 41);
  const auto x9 = Activations(9, K, 42);
  const std::vector<float> x8(x9.begin(), x9.begin() + 8 * K);
  const std::vector<float> x1(x9.begin() + 8 * K, x9.end());
  for (bool fast : {false, true}) {
    if (fast && !internal::GgmlMatMulQ4KFastAvailable()) continue;
    const auto y9 = MatMulQ4K(x9, 9, w.view, fast, 2);
    const auto y8 = MatMulQ4K(x8, 8, w.view, fast, 2);
    const auto y1 = MatMulQ4K(x1, 1, w.view, fast, 2);
    EXPECT_EQ(BitwiseDiffs(y9.data(), y8.data(), 8 * N), 0) << fast;
    EXPECT_EQ(BitwiseDiffs(y9.data() + 8 * N, y1.data(), N), 0) << fast;
  }
}

// Two superblocks, both orders recomputed from ggml_q4k.h with the test's own
// code; T = 4 copies of one row take the gemm order, T = 1 the gemv order.
TEST(GgmlMatMulQ4K, TwoSuperblocksFollowTheStatedSteps) {
  constexpr int64_t K = 2 * kQK_K, N = 8;
  for (int trial = 0; trial < 30; ++trial) {
    const QMatrix w = Quantized(DType::kQ4_K, N, K, 300 + trial);
    const auto x1 = test_util::RandomFloats(K, 100 + trial);
    std::vector<BlockQ8_K> a1(2), a4(2);
    internal::QuantizeActRowQ8K(x1.data(), K, a1.data());
    internal::QuantizeRowQ8KGgml4(x1.data(), K, a4.data());
    std::vector<float> x4;
    for (int t = 0; t < 4; ++t) x4.insert(x4.end(), x1.begin(), x1.end());
    std::vector<float> want_gemv(N), want_gemm(N);
    for (int64_t n = 0; n < N; ++n) {
      const auto* xb = reinterpret_cast<const BlockQ4_K*>(w.view.row(n));
      float gv = 0, gvm = 0, gm = 0, gmm = 0;
      for (int b = 0; b < 2; ++b) {
        int32_t I[2][4] = {}, M[2][4] = {};  // [gemv / gemm activations][chunk]
        for (int e = 0; e < kQK_K; ++e) {
          const int j = e / 32;
          uint8_t sc, m;
          GetScaleMinK4(j, xb[b].scales, &sc, &m);
          const int q = (xb[b].qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 0xF;
          const BlockQ8_K* acts[2] = {&a1[b], &a4[b]};
          for (int o = 0; o < 2; ++o) {
            I[o][j / 2] += sc * q * acts[o]->qs[e];
            M[o][j / 2] += m * acts[o]->qs[e];
          }
        }
        const volatile float p1 = Fp16ToFp32(xb[b].d) * a1[b].d;
        const volatile float q1 = Fp16ToFp32(xb[b].dmin) * a1[b].d;
        gv = std::fma(static_cast<float>(I[0][0] + I[0][1] + I[0][2] + I[0][3]), p1, gv);
        gvm = std::fma(static_cast<float>(M[0][0] + M[0][1] + M[0][2] + M[0][3]), q1, gvm);
        const volatile float p4 = Fp16ToFp32(xb[b].d) * a4[b].d;
        const volatile float q4 = Fp16ToFp32(xb[b].dmin) * a4[b].d;
        for (int k = 0; k < 4; ++k) {
          gm = std::fma(static_cast<float>(I[1][k]), p4, gm);
          gmm = std::fma(static_cast<float>(M[1][k]), q4, gmm);
        }
      }
      want_gemv[n] = gv - gvm;
      want_gemm[n] = gm - gmm;
    }
    for (bool fast : {false, true}) {
      if (fast && !internal::GgmlMatMulQ4KFastAvailable()) continue;
      EXPECT_EQ(BitwiseDiffs(MatMulQ4K(x1, 1, w.view, fast, 1), want_gemv), 0)
          << "trial " << trial << " fast=" << fast;
      const auto y4 = MatMulQ4K(x4, 4, w.view, fast, 1);
      for (int t = 0; t < 4; ++t)
        EXPECT_EQ(BitwiseDiffs(y4.data() + t * N, want_gemm.data(), N), 0)
            << "trial " << trial << " fast=" << fast << " t=" << t;
    }
  }
}

// The orders matter: the same row in a T = 4 call (gemm order) and a T = 3
// call (gemv order) differs in the last bits on a sizeable share of outputs,
// while staying within a few float roundings.
TEST(GgmlMatMulQ4K, GemmAndGemvOrdersDiffer) {
  constexpr int64_t K = 2048, N = 512;
  const QMatrix w = Quantized(DType::kQ4_K, N, K, 21);
  const auto x4 = Activations(4, K, 22);
  const std::vector<float> x3(x4.begin(), x4.begin() + 3 * K);
  const auto gemv = MatMulQ4K(x3, 3, w.view, false, 1);
  auto gemm = MatMulQ4K(x4, 4, w.view, false, 1);
  gemm.resize(gemv.size());
  EXPECT_GT(BitwiseDiffs(gemv, gemm), static_cast<int64_t>(gemv.size()) / 20);
  double max_abs = 0, max_diff = 0;
  for (size_t k = 0; k < gemv.size(); ++k) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(gemv[k])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(gemv[k]) - gemm[k]));
  }
  // The same terms summed in groups of 4 or 1 per superblock: a few dozen
  // roundings of partial sums (the two accumulators before their difference
  // may be ~10x the output), far below 1e-4 of the largest output.
  EXPECT_GT(max_abs, 0.0);
  EXPECT_LT(max_diff, 1e-4 * max_abs);
}

// The 4-row quantizer takes the negative scale whenever +amax occurs in the
// block; the row quantizer follows the first value of largest magnitude.
TEST(GgmlMatMulQ4K, FourRowQuantizerScaleSignRule) {
  constexpr int64_t K = 2 * kQK_K;
  auto x = test_util::RandomFloats(K, 9);
  // Block 0: -2 before +2 (the rules differ); block 1: +2 before -2 (same).
  x[10] = -2.0f;
  x[200] = 2.0f;
  x[kQK_K + 10] = 2.0f;
  x[kQK_K + 200] = -2.0f;
  std::vector<BlockQ8_K> row(2), four(2);
  internal::QuantizeActRowQ8K(x.data(), K, row.data());
  internal::QuantizeRowQ8KGgml4(x.data(), K, four.data());
  EXPECT_GT(row[0].d, 0.0f);
  EXPECT_EQ(four[0].d, -row[0].d);
  EXPECT_EQ(four[0].qs[10], 127);  // iscale = -127 / amax
  EXPECT_EQ(four[0].qs[200], -127);
  for (int i = 0; i < kQK_K; ++i) ASSERT_EQ(four[0].qs[i], -row[0].qs[i]) << i;
  for (int g = 0; g < 16; ++g) ASSERT_EQ(four[0].bsums[g], -row[0].bsums[g]) << g;
  EXPECT_EQ(std::memcmp(&four[1], &row[1], sizeof(BlockQ8_K)), 0);
  EXPECT_LT(four[1].d, 0.0f);
  // Only -amax: both rules give the positive scale.
  auto z = test_util::RandomFloats(kQK_K, 10);
  z[5] = -3.0f;
  BlockQ8_K zr, z4;
  internal::QuantizeActRowQ8K(z.data(), kQK_K, &zr);
  internal::QuantizeRowQ8KGgml4(z.data(), kQK_K, &z4);
  EXPECT_GT(z4.d, 0.0f);
  EXPECT_EQ(std::memcmp(&zr, &z4, sizeof(BlockQ8_K)), 0);
}

}  // namespace
}  // namespace sov::kernels
