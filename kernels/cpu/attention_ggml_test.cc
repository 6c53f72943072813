// AttentionGgml: the AVX-512 kernels equal the portable definition bitwise
// (decode and prefill, window edges, 1 and 2 threads); a prefill row does not
// depend on the batch it is in (T >= 2); a decode step differs from the
// prefill row only by summation order; masked cells are never read; small
// cases recomputed by hand; ggml's exp against libm.
#include "kernels/cpu/attention_ggml.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/test_util.h"
#include "quant/float16.h"

namespace sov::kernels {
namespace {

using test_util::BitwiseDiffs;

// Gemma 3 270M's geometry: 4 query heads on 1 KV head of 256 channels.
struct Cache {
  int64_t n_q = 4, n_kv = 1, d = 256, rows = 0;
  std::vector<uint16_t> k, v;
  std::vector<float> q;  // [positions, n_q * d], unscaled
  Cache(int64_t positions, uint64_t seed, int64_t n_q_ = 4, int64_t n_kv_ = 1, int64_t d_ = 256)
      : n_q(n_q_), n_kv(n_kv_), d(d_), rows(positions) {
    const auto kf = test_util::RandomFloats(static_cast<size_t>(rows * n_kv * d), seed, -2.0f, 2.0f);
    const auto vf = test_util::RandomFloats(static_cast<size_t>(rows * n_kv * d), seed + 1);
    q = test_util::RandomFloats(static_cast<size_t>(rows * n_q * d), seed + 2, -3.0f, 3.0f);
    k.resize(kf.size());
    v.resize(vf.size());
    for (size_t i = 0; i < kf.size(); ++i) k[i] = Fp32ToFp16(kf[i]);
    for (size_t i = 0; i < vf.size(); ++i) v[i] = Fp32ToFp16(vf[i]);
  }
  AttentionParams Params(int64_t T, int64_t pos0, int64_t window) const {
    AttentionParams p;
    p.T = T;
    p.pos0 = pos0;
    p.n_q_heads = n_q;
    p.n_kv_heads = n_kv;
    p.head_dim = d;
    p.window = window;
    p.scale = 0.0625f;
    p.k_cache_f16 = k.data();
    p.v_cache_f16 = v.data();
    p.cache_rows = rows;
    p.ld_kv = n_kv * d;
    return p;
  }
  // Output rows of queries pos0 .. pos0 + T - 1 evaluated as one batch.
  std::vector<float> Run(int64_t T, int64_t pos0, int64_t window, bool fast, int threads) const {
    const int64_t w = n_q * d;
    std::vector<float> out(static_cast<size_t>(T * w), -7.0f);
    internal::SetAttentionGgmlFastEnabled(fast);
    tbb::task_arena arena(threads);
    arena.execute([&] {
      AttentionGgml(Params(T, pos0, window), q.data() + pos0 * w, w, out.data(), w);
    });
    internal::SetAttentionGgmlFastEnabled(true);
    return out;
  }
};


struct Case {
  int64_t T, pos0, window;
};
// Decode at chunk edges and deep positions, prefills of the token counts the
// brief lists, windows whose first visible cell is not 16-aligned.
constexpr Case kCases[] = {
    {1, 0, 0},     {1, 15, 0},    {1, 16, 0},    {1, 255, 0},   {1, 256, 0},  {1, 700, 0},
    {1, 700, 512}, {1, 530, 20},  {2, 0, 0},     {3, 5, 0},     {4, 60, 0},   {5, 250, 0},
    {7, 0, 512},   {8, 505, 512}, {9, 600, 512}, {16, 17, 0},   {33, 300, 0}, {64, 0, 0},
    {64, 480, 512}, {33, 90, 20},
};

TEST(AttentionGgml, FastEqualsPortableAtOneAndTwoThreads) {
  if (!internal::AttentionGgmlFastAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Cache c(800, 11);
  for (const Case& k : kCases) {
    const auto ref = c.Run(k.T, k.pos0, k.window, /*fast=*/false, 1);
    for (int threads : {1, 2}) {
      const auto fast = c.Run(k.T, k.pos0, k.window, /*fast=*/true, threads);
      EXPECT_EQ(BitwiseDiffs(ref.data(), fast.data(), static_cast<int64_t>(ref.size())), 0)
          << "T " << k.T << " pos0 " << k.pos0 << " window " << k.window << " threads " << threads;
    }
    const auto ref2 = c.Run(k.T, k.pos0, k.window, /*fast=*/false, 2);
    EXPECT_EQ(BitwiseDiffs(ref.data(), ref2.data(), static_cast<int64_t>(ref.size())), 0);
    for (float x : ref) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(AttentionGgml, GqaAndOtherHeadDims) {
  if (!internal::AttentionGgmlFastAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU";
  // 8 query heads on 2 KV heads (Gemma 4 E2B-like) and head_dim 512.
  for (int64_t d : {int64_t{128}, int64_t{512}}) {
    const Cache c(300, 21, 8, 2, d);
    for (const Case& k : {Case{1, 299, 0}, Case{6, 100, 64}, Case{17, 250, 0}}) {
      const auto ref = c.Run(k.T, k.pos0, k.window, false, 1);
      const auto fast = c.Run(k.T, k.pos0, k.window, true, 2);
      EXPECT_EQ(BitwiseDiffs(ref.data(), fast.data(), static_cast<int64_t>(ref.size())), 0)
          << "d " << d << " T " << k.T;
    }
  }
}

// Under T >= 2 every row goes through tinyBLAS whatever the batch: query 300
// evaluated in a batch of 33 and in a batch of 2 gives the same bits.
TEST(AttentionGgml, PrefillRowIndependentOfItsBatch) {
  const Cache c(400, 31);
  const int64_t w = c.n_q * c.d;
  for (bool fast : {false, true}) {
    const auto big = c.Run(33, 280, 0, fast, 2);
    const auto pair = c.Run(2, 299, 0, fast, 1);
    EXPECT_EQ(BitwiseDiffs(big.data() + 20 * w, pair.data() + w, w), 0) << "fast " << fast;
  }
}

// A decode step (T == 1) reduces in vec_dot_f16's order, a prefill row in
// tinyBLAS's: the same values summed in another order. Each of the 256-term
// score dots then differs by a few f32 ulps, which can move a probability by
// one fp16 ulp (2^-11 relative) before P V, so the rows agree to ~1e-3 of
// the V scale (|v| <= 1) but are not bitwise equal.
TEST(AttentionGgml, DecodeStepDiffersFromPrefillRowOnlyBySummationOrder) {
  const Cache c(400, 41);
  const int64_t w = c.n_q * c.d;
  const auto prefill = c.Run(64, 300, 0, true, 2);
  const auto decode = c.Run(1, 363, 0, true, 2);
  const float* row = prefill.data() + 63 * w;
  double max_diff = 0.0;
  for (int64_t i = 0; i < w; ++i) max_diff = std::max(max_diff, std::fabs(double{row[i]} - decode[i]));
  EXPECT_LT(max_diff, 1e-3);
  EXPECT_GT(BitwiseDiffs(row, decode.data(), w), 0) << "the two orders should differ somewhere";
}

// Cells outside a query's window or past its position are never read: NaN
// there changes nothing (in llama.cpp they get p = 0 from the -inf mask).
TEST(AttentionGgml, MaskedCellsAreNotRead) {
  const Cache clean(200, 51);
  Cache poisoned = clean;
  const int64_t T = 5, pos0 = 150, window = 37;  // visible cells 114+t .. 150+t
  const uint16_t nan16 = 0x7E00;
  for (int64_t pos = 0; pos < 200; ++pos) {
    if (pos >= pos0 - window + 1 && pos < pos0 + T) continue;
    for (int64_t i = 0; i < clean.d; ++i) poisoned.k[pos * clean.d + i] = poisoned.v[pos * clean.d + i] = nan16;
  }
  for (bool fast : {false, true}) {
    const auto a = clean.Run(T, pos0, window, fast, 1);
    const auto b = poisoned.Run(T, pos0, window, fast, 1);
    EXPECT_EQ(BitwiseDiffs(a.data(), b.data(), static_cast<int64_t>(a.size())), 0) << "fast " << fast;
  }
  // And the window does cut: without it, query 150 sees 151 cells, not 37.
  const auto windowed = clean.Run(1, 150, window, true, 1);
  const auto full = clean.Run(1, 150, 0, true, 1);
  EXPECT_GT(BitwiseDiffs(windowed.data(), full.data(), clean.n_q * clean.d), 0);
}

// One visible key: p = exp(0) / 1 = 1 exactly, out = v. Two keys with the
// same score (identical K rows): p = 0.5 each, out = v0 / 2 + v1 / 2 (one
// fma onto an exact product, then the lane tree adds +0).
TEST(AttentionGgml, HandComputedSmallCases) {
  Cache c(2, 61, 1, 1, 64);
  for (int64_t i = 0; i < 64; ++i) c.k[64 + i] = c.k[i];
  for (bool fast : {false, true}) {
    const auto one = c.Run(1, 0, 0, fast, 1);
    for (int64_t i = 0; i < 64; ++i) ASSERT_EQ(one[i], Fp16ToFp32(c.v[i])) << i;
    for (int64_t T : {int64_t{1}, int64_t{2}}) {
      const auto two = c.Run(T, 2 - T, 0, fast, 1);
      const float* row = two.data() + (T - 1) * 64;
      for (int64_t i = 0; i < 64; ++i) {
        const float expect = std::fma(0.5f, Fp16ToFp32(c.v[64 + i]), 0.5f * Fp16ToFp32(c.v[i]));
        ASSERT_EQ(row[i], expect) << "T " << T << " i " << i;
      }
    }
  }
}

// Close to the fp16-KV kernel with llama.cpp's rounding points (same math,
// other summation orders): the same fp16-ulp argument as above.
TEST(AttentionGgml, AgreesWithAttentionF16) {
  const Cache c(600, 71);
  const int64_t w = c.n_q * c.d;
  for (const Case& k : {Case{1, 599, 0}, Case{1, 599, 512}, Case{40, 500, 512}}) {
    const auto ggml = c.Run(k.T, k.pos0, k.window, true, 2);
    std::vector<float> f16(ggml.size());
    AttentionF16(c.Params(k.T, k.pos0, k.window), c.q.data() + k.pos0 * w, w, f16.data(), w);
    double max_diff = 0.0;
    for (size_t i = 0; i < f16.size(); ++i) max_diff = std::max(max_diff, std::fabs(double{ggml[i]} - f16[i]));
    EXPECT_LT(max_diff, 1e-3) << "T " << k.T;
  }
}

TEST(AttentionGgml, ExpMatchesLibmAndMapsMinusInfinityToZero) {
  EXPECT_EQ(internal::GgmlExpf(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(internal::GgmlExpf(0.0f), 1.0f);
  EXPECT_EQ(internal::GgmlExpf(-200.0f), 0.0f);
  double worst = 0.0;
  for (float x = -87.0f; x <= 0.0f; x += 0.0137f) {
    worst = std::max(worst, std::fabs(internal::GgmlExpf(x) / std::exp(double{x}) - 1.0));
  }
  EXPECT_LT(worst, 4e-7);  // ggml_v_expf is accurate to ~1.5 ulp
  // Subnormal results (vscalefps rounds them once, as ldexp does).
  EXPECT_GT(internal::GgmlExpf(-100.0f), 0.0f);
  EXPECT_LT(internal::GgmlExpf(-100.0f), 1e-38f);
}

}  // namespace
}  // namespace sov::kernels
