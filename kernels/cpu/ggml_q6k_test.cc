// GgmlMatMulQ6K: the AVX512-VNNI kernel equals the portable definition
// bitwise on Gemma 3 270M's Q6_K shapes and token counts on both sides of the
// vec_dot / tiled switch (T = 8; beyond it partial 16-token panels, more
// than one 128-token pass, partial 8-row tiles), at 1 and 2 threads; both
// orders, recomputed here step by step from ggml_q6k.h on two superblocks,
// match the kernel; and the two orders are different functions from each other and from the
// sequential combination of kernels::MatMul's integer path (so a wrong order
// would show).
#include "kernels/cpu/ggml_q6k.h"

#include <tbb/task_arena.h>

#include <algorithm>
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

using internal::GgmlMatMulQ6K;
using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Rows of varied scale, plus zero rows and spike rows.
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 7);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 16) - 8);
    for (int64_t k = 0; k < K; ++k) r[k] *= scale;
    if (t % 5 == 2) r[rng() % K] = 3.0e3f;
    if (t % 7 == 4) std::fill(r, r + K, 0.0f);
  }
  return x;
}

std::vector<float> MatMulQ6K(const std::vector<float>& x, int64_t T, const WeightView& w, bool fast,
                             int threads) {
  std::vector<float> y(static_cast<size_t>(T * w.rows), -1.0f);
  internal::SetGgmlMatMulQ6KFastEnabled(fast);
  tbb::task_arena arena(threads);
  arena.execute([&] { GgmlMatMulQ6K(x.data(), T, w.cols, w, y.data(), w.rows); });
  internal::SetGgmlMatMulQ6KFastEnabled(true);
  return y;
}


struct Shape {
  int64_t K, N;
};
// ffn_down (2048 wide) and attn_output (1024) of Gemma 3 270M, a square one,
// and row counts that leave odd rows in a chunk.
constexpr Shape kShapes[] = {{2048, 640}, {1024, 640}, {1024, 1024}, {256, 37}, {512, 101}};
constexpr int64_t kTokens[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 65, 130};

TEST(GgmlMatMulQ6K, SupportsOnlyQ6K) {
  EXPECT_TRUE(internal::GgmlMatMulQ6KSupports(WeightView{nullptr, DType::kQ6_K, 4, 512, 420}));
  EXPECT_FALSE(internal::GgmlMatMulQ6KSupports(WeightView{nullptr, DType::kQ4_K, 4, 512, 288}));
  EXPECT_FALSE(internal::GgmlMatMulQ6KSupports(WeightView{nullptr, DType::kQ8_0, 4, 512, 544}));
}

TEST(GgmlMatMulQ6K, FastEqualsPortableBitwise) {
  if (!internal::GgmlMatMulQ6KFastAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  for (const Shape& s : kShapes) {
    // Random bytes: every code, scales -128..127 and fp16 d from subnormal to
    // 65504 (and zero); fitted blocks for one shape.
    const QMatrix w = s.N == 1024 ? Quantized(DType::kQ6_K, s.N, s.K, 11)
                                  : RandomBlocks(DType::kQ6_K, s.N, s.K, s.K * 31 + s.N);
    for (int64_t T : kTokens) {
      if (s.K * s.N >= 1024 * 1024 && T != 1 && T != 7 && T != 8 && T != 33) continue;
      const auto x = Activations(T, s.K, T * 131 + s.K);
      const auto portable = MatMulQ6K(x, T, w.view, false, 1);
      for (int threads : {1, 2}) {
        const auto fast = MatMulQ6K(x, T, w.view, true, threads);
        EXPECT_EQ(BitwiseDiffs(fast, portable), 0)
            << "K=" << s.K << " N=" << s.N << " T=" << T << " threads=" << threads;
      }
    }
  }
}

TEST(GgmlMatMulQ6K, ThreadCountDoesNotChangePortable) {
  const QMatrix w = RandomBlocks(DType::kQ6_K, 200, 512, 5);
  for (int64_t T : {3, 9}) {
    const auto x = Activations(T, 512, 6);
    EXPECT_EQ(BitwiseDiffs(MatMulQ6K(x, T, w.view, false, 1), MatMulQ6K(x, T, w.view, false, 2)), 0)
        << T;
  }
}

// Rows of x and y further apart than K and N (as the plan's views can be)
// give the dense results, on both sides of T = 8, fast and portable.
TEST(GgmlMatMulQ6K, StridedRowsMatchDense) {
  constexpr int64_t K = 512, N = 45, ldx = K + 24, ldy = N + 3;
  const QMatrix w = RandomBlocks(DType::kQ6_K, N, K, 41);
  for (int64_t T : {3, 20}) {
    const auto x = Activations(T, K, 42);
    std::vector<float> xs(static_cast<size_t>(T * ldx), 9.0f);
    for (int64_t t = 0; t < T; ++t) std::copy_n(x.data() + t * K, K, xs.data() + t * ldx);
    for (bool fast : {false, true}) {
      const auto dense = MatMulQ6K(x, T, w.view, fast, 1);
      std::vector<float> ys(static_cast<size_t>(T * ldy), -3.0f);
      internal::SetGgmlMatMulQ6KFastEnabled(fast);
      GgmlMatMulQ6K(xs.data(), T, ldx, w.view, ys.data(), ldy);
      internal::SetGgmlMatMulQ6KFastEnabled(true);
      for (int64_t t = 0; t < T; ++t) {
        EXPECT_EQ(std::memcmp(ys.data() + t * ldy, dense.data() + t * N, N * 4), 0)
            << "T=" << T << " fast=" << fast << " t=" << t;
        for (int64_t n = N; n < ldy; ++n) EXPECT_EQ(ys[t * ldy + n], -3.0f) << "gap written";
      }
    }
  }
}

// Element e's unsigned code (ggml's dequantize_row_q6_K layout).
int Code(const BlockQ6_K& x, int e) {
  const int h = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
  const uint8_t ql = x.ql[64 * h + l + 32 * (quarter % 2)];
  const int low = quarter < 2 ? (ql & 0xF) : (ql >> 4);
  return low | (((x.qh[32 * h + l] >> (2 * quarter)) & 3) << 4);
}

// Two superblocks, both orders recomputed from ggml_q6k.h with the test's
// own code; T = 8 copies of one row take the tiled order, T = 1 the vec_dot.
TEST(GgmlMatMulQ6K, TwoSuperblocksFollowTheStatedSteps) {
  constexpr int64_t K = 2 * kQK_K;
  for (int trial = 0; trial < 50; ++trial) {
    const QMatrix w = Quantized(DType::kQ6_K, 1, K, 300 + trial);
    const auto* xb = reinterpret_cast<const BlockQ6_K*>(w.bytes.data());
    const auto x1 = test_util::RandomFloats(K, 100 + trial);
    std::vector<uint8_t> act(internal::ActRowBytes(internal::ActFormat::kQ8_K, K));
    internal::QuantizeActRow(internal::ActFormat::kQ8_K, x1.data(), K, act.data());
    const auto* ab = reinterpret_cast<const BlockQ8_K*>(act.data());

    float lanes[8] = {}, tiled = 0.0f;
    for (int b = 0; b < 2; ++b) {
      const BlockQ6_K& x = xb[b];
      const BlockQ8_K& a = ab[b];
      const float d0 = Fp16ToFp32(x.d);
      const float d = a.d * d0;
      for (int m = 0; m < 8; ++m) {
        int32_t l = 0;
        for (int g = 0; g < 8; ++g)
          for (int e = 32 * g + 4 * m; e < 32 * g + 4 * m + 4; ++e)
            l += x.scales[e / 16] * Code(x, e) * a.qs[e];
        l -= 32 * (x.scales[2 * m] * a.bsums[2 * m] + x.scales[2 * m + 1] * a.bsums[2 * m + 1]);
        lanes[m] = std::fma(d, static_cast<float>(l), lanes[m]);
      }
      int32_t s = 0;
      for (int e = 0; e < kQK_K; ++e) s += x.scales[e / 16] * (Code(x, e) - 32) * a.qs[e];
      const volatile float p = static_cast<float>(s) * d0;  // rounded on its own
      tiled = std::fma(p, a.d, tiled);
    }
    const float vec_dot = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) +
                          ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));

    std::vector<float> x8;
    for (int t = 0; t < 8; ++t) x8.insert(x8.end(), x1.begin(), x1.end());
    for (bool fast : {false, true}) {
      const auto y1 = MatMulQ6K(x1, 1, w.view, fast, 1);
      EXPECT_EQ(std::memcmp(&y1[0], &vec_dot, 4), 0) << "trial " << trial << " fast=" << fast;
      const auto y8 = MatMulQ6K(x8, 8, w.view, fast, 1);
      for (int t = 0; t < 8; ++t)
        EXPECT_EQ(std::memcmp(&y8[t], &tiled, 4), 0) << "trial " << trial << " fast=" << fast;
    }
  }
}

// The orders matter: on fitted weights the vec_dot order (T = 7), the tiled
// order (T = 8, same rows plus one) and the sequential per-block combination
// of kernels::MatMul's integer path (same activation bytes and integers)
// differ in the last bits on a sizeable share of outputs, while staying
// within a few float roundings of each other.
TEST(GgmlMatMulQ6K, OrdersDifferFromEachOtherAndFromSequential) {
  constexpr int64_t K = 2048, N = 512;
  const QMatrix w = Quantized(DType::kQ6_K, N, K, 21);
  const auto x8 = Activations(8, K, 22);
  const std::vector<float> x7(x8.begin(), x8.begin() + 7 * K);
  const auto vec_dot = MatMulQ6K(x7, 7, w.view, false, 1);
  auto tiled = MatMulQ6K(x8, 8, w.view, false, 1);
  tiled.resize(vec_dot.size());
  std::vector<float> seq(vec_dot.size());
  internal::QMatMul(x7.data(), 7, K, w.view, seq.data(), N);
  const std::vector<float>* outs[] = {&vec_dot, &tiled, &seq};
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) {
      const auto& a = *outs[i];
      const auto& b = *outs[j];
      EXPECT_GT(BitwiseDiffs(a, b), static_cast<int64_t>(a.size()) / 20) << i << " vs " << j;
      double max_abs = 0, max_diff = 0;
      for (size_t k = 0; k < a.size(); ++k) {
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(a[k])));
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(a[k]) - b[k]));
      }
      // The same 8 block terms (exact integers times rounded scales) summed in
      // different orders: a few dozen roundings of partial sums no larger than
      // a few times the largest output, far below 1e-5 of it.
      EXPECT_GT(max_abs, 0.0);
      EXPECT_LT(max_diff, 1e-5 * max_abs) << i << " vs " << j;
    }
  }
}

}  // namespace
}  // namespace sov::kernels
