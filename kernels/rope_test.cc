// RoPE on every compiled target (the public entry point, dispatched to each
// target by the fixture) against the scalar reference.
#include <cmath>
#include <cstring>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"

namespace sov::kernels {
namespace {

class RoPETest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(RoPETest);

std::vector<float> InvFreq(int64_t head_dim, double theta, int64_t n_rot_pairs) {
  std::vector<float> f(static_cast<size_t>(head_dim / 2), 0.0f);
  for (int64_t i = 0; i < n_rot_pairs; ++i) {
    f[i] = static_cast<float>(std::pow(theta, -2.0 * i / head_dim));
  }
  return f;
}

TEST_P(RoPETest, MatchesReference) {
  for (int64_t d : {2, 4, 16, 34, 256, 512}) {
    for (int64_t T : {1, 3, 40}) {
      const int64_t heads = 3, ld = heads * d + 7;
      auto x = test_util::RandomFloats(static_cast<size_t>(T * ld), d + T, -2, 2);
      auto xr = x;
      std::vector<int32_t> pos(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) pos[t] = static_cast<int32_t>(t * 977 + 5);  // up to ~38K
      // Proportional layout: a quarter of the pairs rotate, the rest are zero.
      const auto f = InvFreq(d, d >= 256 ? 1e6 : 1e4, std::max<int64_t>(1, d / 8));
      RoPE(x.data(), T, ld, heads, d, pos.data(), f.data());
      ref::RoPE(xr.data(), T, ld, heads, d, pos.data(), f.data());
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < d / 2; ++i) {
            const int64_t lo = t * ld + h * d + i, hi = lo + d / 2;
            // cos/sin in float32 are within 1 ulp of the reference's double
            // cos/sin of the same float angle; two products and a sum add
            // 2 roundings: |error| <= 4 u (|a| + |b|).
            const double mag = std::fabs(xr[lo]) + std::fabs(xr[hi]) + 1e-30;
            ASSERT_NEAR(x[lo], xr[lo], 4 * test_util::kU32 * 2 * mag) << "d=" << d << " i=" << i;
            ASSERT_NEAR(x[hi], xr[hi], 4 * test_util::kU32 * 2 * mag) << "d=" << d << " i=" << i;
          }
        }
        // Row padding untouched.
        for (int64_t c = heads * d; c < ld; ++c) ASSERT_EQ(x[t * ld + c], xr[t * ld + c]);
      }
    }
  }
}

TEST_P(RoPETest, ZeroFrequencyIsExactlyIdentity) {
  const int64_t d = 512, heads = 2, T = 5;
  const auto x0 = test_util::RandomFloats(T * heads * d, 1, -50, 50);
  auto x = x0;
  const std::vector<float> zero(d / 2, 0.0f);
  const int32_t pos[] = {0, 1, 1000, 131071, 7};
  RoPE(x.data(), T, heads * d, heads, d, pos, zero.data());
  ASSERT_EQ(0, std::memcmp(x.data(), x0.data(), x.size() * 4));
  // Proportional RoPE: pairs 64..255 pass through bit for bit.
  const auto f = InvFreq(d, 1e6, 64);
  RoPE(x.data(), T, heads * d, heads, d, pos, f.data());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 64; i < 256; ++i) {
        const int64_t o = (t * heads + h) * d;
        ASSERT_EQ(x[o + i], x0[o + i]);
        ASSERT_EQ(x[o + i + 256], x0[o + i + 256]);
      }
    }
  }
}

TEST_P(RoPETest, PositionZeroIsIdentityAndRotationPreservesNorm) {
  const int64_t d = 256;
  const auto f = InvFreq(d, 1e4, d / 2);
  auto x = test_util::RandomFloats(d, 5);
  const auto x0 = x;
  const int32_t p0 = 0;
  RoPE(x.data(), 1, d, 1, d, &p0, f.data());
  ASSERT_EQ(x, x0);
  const int32_t p1 = 12345;
  RoPE(x.data(), 1, d, 1, d, &p1, f.data());
  for (int64_t i = 0; i < d / 2; ++i) {
    const double n0 = std::hypot(x0[i], x0[i + d / 2]), n1 = std::hypot(x[i], x[i + d / 2]);
    ASSERT_NEAR(n0, n1, 8 * test_util::kU32 * n0 + 1e-30);
  }
}

}  // namespace
}  // namespace sov::kernels
