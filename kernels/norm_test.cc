// RMSNorm, AddRMSNorm and PLE assembly on every compiled target against the
// scalar reference.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/norm_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/norm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

using test_util::kU32;
constexpr float kEps = 1e-6f;

// Error model: the sum of n squares (all terms >= 0) carries a relative error
// <= (n + 1) u; the mean, sqrt and reciprocal add a few u and the sqrt halves
// the sum's error, so inv has relative error <= (n/2 + 4) u. The final
// products add <= 3 u. Hence |y - ref| <= (n/2 + 8) u |ref|.
double NormBound(int64_t n) { return (static_cast<double>(n) / 2 + 8) * kU32; }

void TestRMSNorm() {
  for (int64_t dim : {1, 3, 17, 33, 72, 255, 257, 1536}) {
    for (int64_t rows : {1, 3, 5}) {
      for (bool with_w : {false, true}) {
        const int64_t ld = dim + 3;
        const auto x = test_util::RandomFloats(static_cast<size_t>(rows * ld), dim * 31 + rows,
                                               -3.0f, 3.0f);
        const auto w = test_util::RandomFloats(static_cast<size_t>(dim), dim, 0.5f, 1.5f);
        const float* wp = with_w ? w.data() : nullptr;
        std::vector<float> y(x.size(), 0.0f), yr(x.size(), 0.0f);
        RMSNormRows(x.data(), rows, dim, ld, wp, kEps, y.data(), ld);
        ref::RMSNorm(x.data(), rows, dim, ld, wp, kEps, yr.data(), ld);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < dim; ++i) {
            const size_t j = static_cast<size_t>(r * ld + i);
            ASSERT_LE(std::fabs(double{y[j]} - yr[j]), NormBound(dim) * std::fabs(yr[j]) + 1e-30)
                << hwy::TargetName(HWY_TARGET) << " dim=" << dim << " r=" << r << " i=" << i;
          }
        }
        // In place (y == x) gives the same bits as out of place.
        std::vector<float> xi = x;
        RMSNormRows(xi.data(), rows, dim, ld, wp, kEps, xi.data(), ld);
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(0, std::memcmp(xi.data() + r * ld, y.data() + r * ld, dim * 4));
        }
      }
    }
  }
}

void TestAddRMSNorm() {
  for (int64_t dim : {1, 3, 17, 33, 72, 255, 257, 1536}) {
    for (int64_t rows : {1, 4}) {
      for (int variant = 0; variant < 3; ++variant) {  // y: none / no weight / weight
        const int64_t ld = dim + 1;
        const auto x0 = test_util::RandomFloats(static_cast<size_t>(rows * ld), dim + 5, -2, 2);
        const auto d = test_util::RandomFloats(static_cast<size_t>(rows * ld), dim + 6, -5, 5);
        const auto wp = test_util::RandomFloats(static_cast<size_t>(dim), dim + 7, 0.1f, 2.0f);
        const auto wn = test_util::RandomFloats(static_cast<size_t>(dim), dim + 8, 0.1f, 2.0f);
        std::vector<float> x = x0, xr = x0, y(x0.size()), yr(x0.size());
        float* yp = variant == 0 ? nullptr : y.data();
        float* yrp = variant == 0 ? nullptr : yr.data();
        const float* wnp = variant == 2 ? wn.data() : nullptr;
        AddRMSNormRows(x.data(), rows, dim, ld, d.data(), ld, wp.data(), wnp, kEps, yp, ld);
        ref::AddRMSNorm(xr.data(), rows, dim, ld, d.data(), ld, wp.data(), wnp, kEps, yrp, ld);
        for (int64_t r = 0; r < rows; ++r) {
          // |normed delta| and the exact residual, for the bounds below.
          double ss = 0, ssx = 0;
          for (int64_t i = 0; i < dim; ++i) ss += double{d[r * ld + i]} * d[r * ld + i];
          const double inv = 1 / std::sqrt(ss / dim + kEps);
          for (int64_t i = 0; i < dim; ++i) ssx += double{xr[r * ld + i]} * xr[r * ld + i];
          const double inv_x = 1 / std::sqrt(ssx / dim + kEps);
          for (int64_t i = 0; i < dim; ++i) {
            const size_t j = static_cast<size_t>(r * ld + i);
            const double nd = std::fabs(d[j] * inv * wp[i]);
            // x' = x + nd: the normed term's error plus one rounding of the sum.
            const double bx = NormBound(dim) * nd + kU32 * (std::fabs(x0[j]) + nd);
            ASSERT_LE(std::fabs(double{x[j]} - xr[j]), bx)
                << hwy::TargetName(HWY_TARGET) << " dim=" << dim << " i=" << i;
            if (variant != 0) {
              // y = x' inv' w: x's absolute error scaled by inv' w, plus the
              // norm's own relative error.
              const double wi = wnp ? wn[i] : 1.0;
              const double by = bx * inv_x * wi + 2 * NormBound(dim) * std::fabs(yr[j]) + 1e-30;
              ASSERT_LE(std::fabs(double{y[j]} - yr[j]), by)
                  << hwy::TargetName(HWY_TARGET) << " y dim=" << dim << " i=" << i;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {

HWY_BEFORE_TEST(NormTargetTest);
HWY_EXPORT_AND_TEST_P(NormTargetTest, TestRMSNorm);
HWY_EXPORT_AND_TEST_P(NormTargetTest, TestAddRMSNorm);

TEST(NormTest, PublicEntryPointsMatchReferenceOnManyRows) {
  // Enough rows that ParallelFor splits them.
  const int64_t rows = 97, dim = 1000;
  const auto x = test_util::RandomFloats(rows * dim, 3);
  const auto w = test_util::RandomFloats(dim, 4);
  std::vector<float> y(x.size()), yr(x.size());
  RMSNorm(x.data(), rows, dim, dim, w.data(), 1e-6f, y.data(), dim);
  ref::RMSNorm(x.data(), rows, dim, dim, w.data(), 1e-6f, yr.data(), dim);
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_NEAR(y[i], yr[i], (dim / 2 + 8) * test_util::kU32 * std::fabs(yr[i]) + 1e-30) << i;
  }
}

TEST(NormTest, PleAssembleMatchesReference) {
  const int64_t T = 3, L = 5, P = 33;
  const auto ctx = test_util::RandomFloats(T * L * P, 10, -40, 40);
  const auto tok = test_util::RandomFloats(T * L * P, 11, -2, 2);
  const auto nw = test_util::RandomFloats(P, 12, 0.5f, 1.5f);
  const float cs = 1.0f / std::sqrt(1536.0f), os = 1.0f / std::sqrt(2.0f);
  std::vector<float> out(ctx.size()), outr(ctx.size());
  PleAssemble(ctx.data(), tok.data(), T, L, P, nw.data(), 1e-6f, cs, os, out.data());
  ref::PleAssemble(ctx.data(), tok.data(), T, L, P, nw.data(), 1e-6f, cs, os, outr.data());
  for (size_t i = 0; i < out.size(); ++i) {
    // Norm bound on the normed part (|value| <= |(c+tok)| + |tok|) plus the
    // two roundings of the add and the final scale.
    const double mag = std::fabs(outr[i]) / os + std::fabs(tok[i]);
    ASSERT_NEAR(out[i], outr[i], ((P / 2.0 + 8) * test_util::kU32 * mag + 2 * test_util::kU32 * mag) * os)
        << i;
  }
}

}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
