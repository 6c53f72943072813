// RoPEGgml: every compiled target equals the scalar definition bitwise (Gemma 3
// 270M shapes, positions past the sliding window and far beyond, 1 and 2
// threads); the arithmetic is not the closed-form pos * inv_freq one; the
// unrotated channels and padding are untouched; tokens are independent.
// Bitwise agreement with libggml-cpu itself was checked with a harness linked
// against llama.cpp (not part of the build: the library is not a dependency).
#include "kernels/cpu/rope_ggml.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/api.h"
#include "kernels/test_util.h"

namespace sov::kernels {
namespace {

using test_util::BitwiseDiffs;

class RoPEGgmlTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(RoPEGgmlTest);

std::vector<float> Activations(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// 0..600 (a full sliding window and past it), then large positions.
std::vector<int32_t> Positions(int64_t T, int32_t first) {
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[t] = first + static_cast<int32_t>(t * 9);
  if (T > 3) pos[T - 1] = 1000003, pos[T - 2] = 131071, pos[T - 3] = 12345678;
  return pos;
}


struct Case {
  int64_t heads, head_dim, n_dims;
};
// q (4 heads) and k (1 head) of Gemma 3 270M; a partial rotation; a width
// that leaves a vector tail.
constexpr Case kCases[] = {{4, 256, 256}, {1, 256, 256}, {2, 256, 128}, {3, 40, 36}};

TEST_P(RoPEGgmlTest, EqualsPortableBitwise) {
  for (const Case& c : kCases) {
    for (int64_t T : {1, 5, 64, 67}) {
      for (float base : {1e4f, 1e6f}) {
        for (float freq_scale : {1.0f, 0.125f}) {
          for (int threads : {1, 2}) {
            const int64_t ld = c.heads * c.head_dim + 3;
            const auto x0 = Activations(static_cast<size_t>(T * ld), static_cast<uint32_t>(T));
            const auto pos = Positions(T, T == 67 ? 0 : 590);
            auto fast = x0, portable = x0;
            tbb::task_arena arena(threads);
            arena.execute([&] {
              RoPEGgml(fast.data(), T, ld, c.heads, c.head_dim, c.n_dims, pos.data(), base,
                       freq_scale);
            });
            internal::RoPEGgmlPortable(portable.data(), T, ld, c.heads, c.head_dim, c.n_dims,
                                       pos.data(), base, freq_scale);
            ASSERT_EQ(BitwiseDiffs(fast, portable), 0)
                << "heads=" << c.heads << " head_dim=" << c.head_dim << " n_dims=" << c.n_dims
                << " T=" << T << " base=" << base << " freq_scale=" << freq_scale
                << " threads=" << threads;
            // Channels past n_dims and the row padding are copied through.
            for (int64_t t = 0; t < T; ++t) {
              for (int64_t h = 0; h < c.heads; ++h) {
                for (int64_t i = c.n_dims; i < c.head_dim; ++i) {
                  const int64_t at = t * ld + h * c.head_dim + i;
                  ASSERT_EQ(std::memcmp(&fast[at], &x0[at], 4), 0);
                }
              }
              for (int64_t i = c.heads * c.head_dim; i < ld; ++i) {
                ASSERT_EQ(std::memcmp(&fast[t * ld + i], &x0[t * ld + i], 4), 0);
              }
            }
          }
        }
      }
    }
  }
}

// A token's result does not depend on the other tokens of the call.
TEST(RoPEGgml, TokensAreIndependent) {
  const int64_t T = 33, heads = 4, d = 256, ld = heads * d;
  const auto x0 = Activations(static_cast<size_t>(T * ld), 7);
  const auto pos = Positions(T, 100);
  auto all = x0;
  RoPEGgml(all.data(), T, ld, heads, d, d, pos.data(), 1e6f, 1.0f);
  auto one = x0;
  for (int64_t t = 0; t < T; ++t) {
    RoPEGgml(one.data() + t * ld, 1, ld, heads, d, d, pos.data() + t, 1e6f, 1.0f);
  }
  EXPECT_EQ(BitwiseDiffs(all, one), 0);
}

// Position 0 is the identity: cos 1, sin 0 make both fused forms exact.
TEST(RoPEGgml, PositionZeroIsIdentity) {
  const int64_t heads = 4, d = 256;
  const auto x0 = Activations(static_cast<size_t>(heads * d), 3);
  auto x = x0;
  const int32_t pos = 0;
  RoPEGgml(x.data(), 1, heads * d, heads, d, d, &pos, 1e4f, 1.0f);
  EXPECT_EQ(BitwiseDiffs(x, x0), 0);
}

// The angles follow ggml's float iteration theta_{i+1} = theta_i * theta_scale,
// which drifts from the once-rounded pos * base^(-2i/n): at a large position
// some pair's angle differs, and both stay within the drift's bound.
TEST(RoPEGgml, AnglesIterateInFloat) {
  const int64_t n_dims = 256, half = n_dims / 2;
  const int32_t pos = 4099;
  std::vector<float> c(half), s(half);
  internal::RoPEGgmlCosSin(pos, n_dims, 1e4f, 1.0f, c.data(), s.data());
  int64_t differ = 0;
  for (int64_t i = 0; i < half; ++i) {
    const double exact = pos * std::pow(1e4, -2.0 * static_cast<double>(i) / n_dims);
    const float closed = static_cast<float>(exact);
    differ += std::cos(closed) != c[i] || std::sin(closed) != s[i];
    // Each of the <= 128 iterated multiplies and the rounding of theta_scale
    // add at most one relative ulp (2^-24) of the angle: the cos/sin move by at
    // most angle * 2 * 129 * 2^-24, plus an ulp for cosf/sinf themselves.
    const double tol = exact * 2 * 129 * std::ldexp(1.0, -24) + 2 * std::ldexp(1.0, -24);
    ASSERT_NEAR(c[i], std::cos(exact), tol) << "pair " << i;
    ASSERT_NEAR(s[i], std::sin(exact), tol) << "pair " << i;
  }
  EXPECT_GT(differ, 0);
  // Pair 0 is exactly float(pos).
  EXPECT_EQ(c[0], std::cos(static_cast<float>(pos)));
  EXPECT_EQ(s[0], std::sin(static_cast<float>(pos)));
}

// The rotation fuses x0 * c (resp. x0 * s) and rounds the x1 product first,
// which is not the unfused a*c - b*s: hand-checkable on one pair.
TEST(RoPEGgml, OnePairMatchesTheFusedForm) {
  const int32_t pos = 1;
  std::vector<float> x = {1.0f + 0x1p-20f, 3.0f - 0x1p-21f};
  RoPEGgml(x.data(), 1, 2, 1, 2, 2, &pos, 1e4f, 1.0f);
  const float c = std::cos(1.0f), s = std::sin(1.0f);
  const float x0 = 1.0f + 0x1p-20f, x1 = 3.0f - 0x1p-21f;
  const float x1s = x1 * s, x1c = x1 * c;
  EXPECT_EQ(x[0], std::fma(x0, c, -x1s));
  EXPECT_EQ(x[1], std::fma(x0, s, x1c));
}

}  // namespace
}  // namespace sov::kernels
