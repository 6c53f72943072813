// RMSNormGgml and AddRMSNormGgml against their stated
// definitions (kernels/cpu/elementwise_ggml.h), bitwise, at 1 and 2 threads on
// Gemma 3 270M widths, plus hand-checkable cases where the ggml order gives
// a different float than the obvious one. Bitwise agreement with libggml-cpu
// itself was checked with a harness linked against llama.cpp (not part of the
// build: the library is not a dependency).
#include "kernels/cpu/elementwise_ggml.h"

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/api.h"
#include "kernels/test_util.h"
#include "quant/float16.h"

namespace sov::kernels {
namespace {

using test_util::BitwiseDiffs;

std::vector<float> Normal(size_t n, uint32_t seed, float sd, bool wide = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) {
    x = dist(rng);
    if (wide) x = std::ldexp(x, static_cast<int>(rng() % 40) - 20);
  }
  return v;
}


// The header's definition, written out independently: squares rounded to
// float (volatile: never fused), summed sequentially in double.
float DefinitionScale(const float* x, int64_t dim, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < dim; ++i) {
    volatile float sq = x[i] * x[i];
    sum += sq;
  }
  const float mean = static_cast<float>(sum / dim);
  return 1.0f / std::sqrt(mean + eps);
}

template <class F>
void WithThreads(int threads, const F& f) {
  tbb::task_arena arena(threads);
  arena.execute(f);
}

constexpr float kEps = 1e-6f;

// The sum of squares takes exact 64-element steps where it can prove them
// equal to the sequential order: on every target, against the plain
// sequential loop, on data made to break that proof (wide exponent ranges
// where the double sum rounds, tiny and zero elements, subnormal squares,
// binade crossings, Inf and NaN) and on ordinary activations.
class SumSquaresGgmlTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(SumSquaresGgmlTest);

double SequentialSumSquares(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    volatile float sq = x[i] * x[i];
    sum += sq;
  }
  return sum;
}

TEST_P(SumSquaresGgmlTest, EqualsSequentialSum) {
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int64_t rows = 0;
  for (int kind = 0; kind < 9; ++kind) {
    for (int64_t dim : {1, 17, 63, 64, 65, 130, 256, 640, 2048}) {
      for (int rep = 0; rep < 40; ++rep, ++rows) {
        std::vector<float> x(static_cast<size_t>(dim));
        for (float& v : x) {
          v = normal(rng);
          switch (kind) {
            case 1:  // squares over ~120 binades: the double sum rounds
              v = std::ldexp(v, static_cast<int>(rng() % 60) - 30);
              break;
            case 2:  // a few tiny elements among ordinary ones
              if (rng() % 20 == 0) v = std::ldexp(v, -12 - static_cast<int>(rng() % 20));
              break;
            case 3:  // zeros and subnormal squares
              if (rng() % 3 == 0) v = 0.0f;
              if (rng() % 5 == 0) v = std::ldexp(v, -70);
              break;
            case 4:  // one huge element first, then ordinary ones
              break;
            case 5:  // squares near the float maximum and overflowing to Inf
              v = std::ldexp(v, 62);
              break;
            case 6:  // a NaN somewhere
              if (rng() % 50 == 0) v = std::nanf("");
              break;
            case 7:  // power-of-two elements: sums with many trailing zeros
              v = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
              break;
            case 8:  // ordinary elements; the first step gets tiny ones below
              break;
            default:
              break;
          }
        }
        if (kind == 4) x[0] = 1e12f;
        // s then carries bits far below the later squares' lowest ones, so
        // adding a later step at once would round differently.
        if (kind == 8) {
          for (int64_t i = 1; i < std::min<int64_t>(dim, 64); ++i) x[i] = std::ldexp(x[i], -20);
        }
        const double want = SequentialSumSquares(x.data(), dim);
        const double got = internal::GgmlSumSquares(x.data(), dim);
        if (std::isnan(want)) {
          ASSERT_TRUE(std::isnan(got)) << "kind " << kind << " dim " << dim;
        } else {
          ASSERT_EQ(std::memcmp(&got, &want, sizeof(got)), 0)
              << "kind " << kind << " dim " << dim << " rep " << rep << ": " << got << " vs "
              << want;
        }
      }
    }
  }
  EXPECT_EQ(rows, 9 * 9 * 40);
}

// The norms on every target (sum of squares, scaling and residual passes
// are dispatched).
class NormGgmlTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(NormGgmlTest);

TEST_P(NormGgmlTest, RMSNormMatchesDefinition) {
  for (int64_t dim : {640, 256, 37}) {
    for (int64_t rows : {1, 3, 5, 17, 23, 64, 256}) {
      for (bool wide : {false, true}) {
        for (bool weighted : {true, false}) {
          for (int threads : {1, 2}) {
            const int64_t ld = dim + 3;
            const auto x = Normal(static_cast<size_t>(rows * ld), rows + dim, 3.0f, wide);
            auto w = Normal(static_cast<size_t>(dim), 5, 0.3f);
            for (float& v : w) v += 1.0f;
            const float* wp = weighted ? w.data() : nullptr;
            std::vector<float> y(x.size(), -7.0f), want = y;
            WithThreads(threads,
                        [&] { RMSNormGgml(x.data(), rows, dim, ld, wp, kEps, y.data(), ld); });
            for (int64_t r = 0; r < rows; ++r) {
              const float s = DefinitionScale(x.data() + r * ld, dim, kEps);
              for (int64_t i = 0; i < dim; ++i) {
                volatile float xs = x[r * ld + i] * s;
                want[r * ld + i] = weighted ? xs * w[i] : xs;
              }
            }
            ASSERT_EQ(BitwiseDiffs(y, want), 0)
                << "dim=" << dim << " rows=" << rows << " wide=" << wide << " threads=" << threads;
            // In place gives the same.
            auto inplace = x;
            RMSNormGgml(inplace.data(), rows, dim, ld, wp, kEps, inplace.data(), ld);
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(std::memcmp(inplace.data() + r * ld, y.data() + r * ld, dim * 4), 0);
            }
          }
        }
      }
    }
  }
}

// One square of 1 and 639 squares of 2^-24: a float sum absorbs each 2^-24
// into 1 (a tie, rounded to even), the double sum keeps all of them, and the
// mean then differs by more than a float ulp.
TEST(RMSNormGgml, SumsSquaresInDouble) {
  std::vector<float> x(640, 0x1p-12f);
  x[0] = 1.0f;
  std::vector<float> y(640);
  RMSNormGgml(x.data(), 1, 640, 640, nullptr, 0.0f, y.data(), 640);
  const float mean = static_cast<float>((1.0 + 639 * 0x1p-24) / 640.0);
  const float scale = 1.0f / std::sqrt(mean);
  const float float_sum_scale = 1.0f / std::sqrt(1.0f / 640.0f);
  ASSERT_NE(scale, float_sum_scale);
  EXPECT_EQ(y[0], scale);
  EXPECT_EQ(y[1], 0x1p-12f * scale);
}

TEST_P(NormGgmlTest, AddRMSNormMatchesSeparateOps) {
  for (int64_t rows : {1, 3, 5, 9, 17, 64}) {
    for (bool next : {true, false}) {
      for (int threads : {1, 2}) {
        const int64_t dim = 640, ld = 650, ldd = 645;
        const auto x0 = Normal(static_cast<size_t>(rows * ld), rows, 10.0f);
        const auto delta = Normal(static_cast<size_t>(rows * ldd), rows + 100, 0.5f, true);
        auto w_post = Normal(dim, 6, 0.3f), w_next = Normal(dim, 7, 0.3f);
        for (float& v : w_post) v += 1.0f;
        for (float& v : w_next) v += 1.0f;
        auto x = x0;
        std::vector<float> y(static_cast<size_t>(rows * ld), -3.0f);
        WithThreads(threads, [&] {
          AddRMSNormGgml(x.data(), rows, dim, ld, delta.data(), ldd, w_post.data(), w_next.data(),
                         kEps, next ? y.data() : nullptr, ld);
        });
        // rms_norm(delta), mul w_post, add x, then RMSNormGgml(x; w_next).
        auto want_x = x0;
        std::vector<float> normed(static_cast<size_t>(rows * dim));
        RMSNormGgml(delta.data(), rows, dim, ldd, w_post.data(), kEps, normed.data(), dim);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < dim; ++i)
            want_x[r * ld + i] = normed[r * dim + i] + x0[r * ld + i];
        }
        ASSERT_EQ(BitwiseDiffs(x, want_x), 0) << "rows=" << rows << " threads=" << threads;
        std::vector<float> want_y(static_cast<size_t>(rows * ld), -3.0f);
        if (next) RMSNormGgml(want_x.data(), rows, dim, ld, w_next.data(), kEps, want_y.data(), ld);
        ASSERT_EQ(BitwiseDiffs(y, want_y), 0) << "rows=" << rows << " threads=" << threads;
      }
    }
  }
}

// The weighted product is rounded to float before the residual add (ggml_mul
// then ggml_add), in the vector body and the tail: on rows where a fused
// multiply-add would give other floats, the kernel gives the unfused ones.
TEST_P(NormGgmlTest, AddRMSNormProductIsNotFused) {
  for (int64_t dim : {640, 37}) {
    const auto delta = Normal(static_cast<size_t>(dim), 1, 1.0f);
    const auto w = Normal(static_cast<size_t>(dim), 2, 1.0f);
    const auto x0 = Normal(static_cast<size_t>(dim), 3, 1.0f);
    const float s = DefinitionScale(delta.data(), dim, 0.0f);
    std::vector<float> unfused(static_cast<size_t>(dim));
    int64_t fused_differs = 0;
    for (int64_t i = 0; i < dim; ++i) {
      volatile float p = (delta[i] * s) * w[i];
      unfused[i] = p + x0[i];
      fused_differs += std::fma(delta[i] * s, w[i], x0[i]) != unfused[i];
    }
    ASSERT_GT(fused_differs, 0);  // the data can tell the two apart
    auto x = x0;
    AddRMSNormGgml(x.data(), 1, dim, dim, delta.data(), dim, w.data(), nullptr, 0.0f, nullptr, dim);
    EXPECT_EQ(BitwiseDiffs(x, unfused), 0)
        << "dim " << dim << "; a fused form differs in " << fused_differs;
  }
}

}  // namespace
}  // namespace sov::kernels
