// GgmlMatMulQ0: the AVX512-VNNI tiles equal the portable definition bitwise
// on Gemma 3 270M's shapes and the token counts that pick different tiles
// (one-token tiles at T = 1; 16-row panels with two-token tiles, a lone last
// token and partial panels), at 1 and 2 threads; the definition's
// float order is the one ggml_q0.h states (a one-block case recomputed here
// step by step) and it is a different function from the sequential
// combination of kernels::MatMul's integer path (so a wrong order would show).
#include "kernels/cpu/ggml_q0.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/qmatrix_test_util.h"
#include "kernels/test_util.h"
#include "quant/act_quant.h"
#include "quant/blocks.h"
#include "quant/float16.h"

namespace sov::kernels {
namespace {

using test_util::BitwiseDiffs;

using internal::GgmlMatMulQ0;
using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Rows of varied scale, plus a zero row, a spike row and a row whose first
// two blocks are ~1e-38 (127 / amax overflows there: qs = -128, d = 0).
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 7);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 16) - 8);
    for (int64_t k = 0; k < K; ++k) r[k] *= scale;
    if (t % 5 == 2) r[rng() % K] = 3.0e3f;
    if (t % 7 == 4) std::fill(r, r + K, 0.0f);
    if (t % 9 == 6)
      for (int64_t k = 0; k < 64; ++k) r[k] *= 1e-38f;
  }
  return x;
}

std::vector<float> MatMulQ0(const std::vector<float>& x, int64_t T, const WeightView& w, bool fast,
                            int threads) {
  std::vector<float> y(static_cast<size_t>(T * w.rows), -1.0f);
  internal::SetGgmlMatMulQ0FastEnabled(fast);
  tbb::task_arena arena(threads);
  arena.execute([&] { GgmlMatMulQ0(x.data(), T, w.cols, w, y.data(), w.rows); });
  internal::SetGgmlMatMulQ0FastEnabled(true);
  return y;
}


struct Shape {
  int64_t K, N;
};
// attn_q/k/v and ffn_gate/up (640 wide), attn_output (1024), ffn_down (2048),
// a sample of the tied 262144-row head, and rows that leave partial tiles.
constexpr Shape kShapes[] = {{640, 256},  {640, 1024}, {640, 2048}, {1024, 640},
                             {2048, 640}, {640, 4096}, {96, 37}};
constexpr int64_t kTokens[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64, 65};

TEST(GgmlMatMulQ0, SupportsOnlyTheReproducedTypes) {
  EXPECT_TRUE(internal::GgmlMatMulQ0Supports(DType::kQ8_0));
  EXPECT_TRUE(internal::GgmlMatMulQ0Supports(DType::kQ5_0));
  EXPECT_FALSE(internal::GgmlMatMulQ0Supports(DType::kQ4_0));  // llama.cpp repacks it
  EXPECT_FALSE(internal::GgmlMatMulQ0Supports(DType::kQ4_K));
  EXPECT_FALSE(internal::GgmlMatMulQ0Supports(DType::kF32));
}

TEST(GgmlMatMulQ0, FastEqualsPortableBitwise) {
  if (!internal::GgmlMatMulQ0FastAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  for (DType t : {DType::kQ8_0, DType::kQ5_0}) {
    for (const Shape& s : kShapes) {
      // Random bytes: every quant value (Q8_0's -128 included) and scales from
      // subnormal to 65504; fitted blocks for the head sample.
      const QMatrix w =
          s.N == 4096 ? Quantized(t, s.N, s.K, 11) : RandomBlocks(t, s.N, s.K, s.K * 31 + s.N);
      for (int64_t T : kTokens) {
        // The largest shapes at a few token counts keep the scalar side short.
        if (s.K * s.N > 640 * 1024 && T != 1 && T != 9 && T != 64) continue;
        const auto x = Activations(T, s.K, T * 131 + s.K);
        const auto portable = MatMulQ0(x, T, w.view, false, 1);
        for (int threads : {1, 2}) {
          const auto fast = MatMulQ0(x, T, w.view, true, threads);
          EXPECT_EQ(BitwiseDiffs(fast, portable), 0)
              << Name(t) << " K=" << s.K << " N=" << s.N << " T=" << T << " threads=" << threads;
        }
      }
    }
  }
}

TEST(GgmlMatMulQ0, ThreadCountDoesNotChangePortable) {
  const QMatrix w = RandomBlocks(DType::kQ5_0, 200, 640, 5);
  const auto x = Activations(9, 640, 6);
  EXPECT_EQ(BitwiseDiffs(MatMulQ0(x, 9, w.view, false, 1), MatMulQ0(x, 9, w.view, false, 2)), 0);
}

// A NaN input is quantized to -128 in a block whose d is finite: ggml's
// sign-trick product differs from the exact one there, so the call must take
// the portable path and still agree with it.
TEST(GgmlMatMulQ0, NanActivationMatchesPortable) {
  const QMatrix w = RandomBlocks(DType::kQ8_0, 40, 128, 8);
  auto x = Activations(3, 128, 9);
  x[128 + 5] = std::numeric_limits<float>::quiet_NaN();
  const auto fast = MatMulQ0(x, 3, w.view, true, 1);
  const auto portable = MatMulQ0(x, 3, w.view, false, 1);
  for (size_t i = 0; i < fast.size(); ++i) {
    if (std::isnan(portable[i])) {
      EXPECT_TRUE(std::isnan(fast[i])) << i;
    } else {
      EXPECT_EQ(std::memcmp(&fast[i], &portable[i], 4), 0) << i;
    }
  }
}

// One Q8_0 block, recomputed from ggml_q0.h's steps with the test's own code:
// lanes of 4 consecutive elements, one rounded scale product, one FMA per
// lane, then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
TEST(GgmlMatMulQ0, OneBlockFollowsTheStatedSteps) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    BlockQ8_0 wb;
    wb.d = Fp32ToFp16(std::ldexp(0.7f + 0.001f * (rng() % 300), -static_cast<int>(rng() % 10)));
    for (int e = 0; e < kQK; ++e) wb.qs[e] = static_cast<int8_t>(rng() % 255 - 127);
    const WeightView w{&wb, DType::kQ8_0, 1, kQK, sizeof(wb)};
    const auto x = test_util::RandomFloats(kQK, 100 + trial);
    BlockQ8_0 a;
    QuantizeActQ8_0(x.data(), &a, kQK);
    const float d = Fp16ToFp32(wb.d) * Fp16ToFp32(a.d);
    float l[8];
    for (int i = 0; i < 8; ++i) {
      int32_t s = 0;
      for (int j = 4 * i; j < 4 * i + 4; ++j) s += wb.qs[j] * a.qs[j];
      l[i] = std::fma(d, static_cast<float>(s), 0.0f);
    }
    const float want = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    for (bool fast : {false, true}) {
      const auto y = MatMulQ0(x, 1, w, fast, 1);
      EXPECT_EQ(std::memcmp(&y[0], &want, 4), 0) << "trial " << trial << " fast=" << fast;
    }
  }
}

// The order matters: on random data the definition differs in the last bits
// from the sequential per-block combination of kernels::MatMul's integer path
// (same activation bytes and integers), on a sizeable share of outputs, while
// staying within a few float roundings of it.
TEST(GgmlMatMulQ0, DiffersFromSequentialCombination) {
  for (DType t : {DType::kQ8_0, DType::kQ5_0}) {
    const QMatrix w = Quantized(t, 512, 640, 21);
    const auto x = Activations(4, 640, 22);
    const auto ggml = MatMulQ0(x, 4, w.view, false, 1);
    std::vector<float> seq(ggml.size());
    internal::QMatMul(x.data(), 4, 640, w.view, seq.data(), 512);
    const int64_t diffs = BitwiseDiffs(ggml, seq);
    EXPECT_GT(diffs, static_cast<int64_t>(ggml.size()) / 20) << Name(t);
    double max_abs = 0, max_diff = 0;
    for (size_t i = 0; i < ggml.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(seq[i])));
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(ggml[i]) - seq[i]));
    }
    // Both add the same 20 block terms (each an exact integer times a rounded
    // scale): the two orders differ by a few dozen roundings of partial sums no
    // larger than a few times the largest output, far below 1e-5 of it.
    EXPECT_GT(max_abs, 0.0);
    EXPECT_LT(max_diff, 1e-5 * max_abs) << Name(t);
  }
}

}  // namespace
}  // namespace sov::kernels
