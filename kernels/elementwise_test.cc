// Element-wise ops, Argmax and EmbeddingGather on every compiled target
// against the scalar reference.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/elementwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

using test_util::kU32;
const int64_t kSizes[] = {1, 3, 15, 16, 17, 33, 72, 255, 257, 4099};

void TestGeluTanhMul() {
  for (int64_t n : kSizes) {
    const auto g = test_util::RandomFloats(static_cast<size_t>(n), n, -8.0f, 8.0f);
    const auto u = test_util::RandomFloats(static_cast<size_t>(n), n + 1, -3.0f, 3.0f);
    std::vector<float> out(static_cast<size_t>(n) + 1, 42.0f), outr(out.size(), 42.0f);
    GeluTanhMulRow(g.data(), u.data(), n, out.data());
    ref::GeluTanhMul(g.data(), n, u.data(), n, 1, n, outr.data(), n);
    ASSERT_EQ(out[n], 42.0f) << "wrote past n";
    for (int64_t i = 0; i < n; ++i) {
      // tanh(a) has absolute error <= 4 ulp + |a| * 3u (argument rounding,
      // tanh' <= 1); gelu = 0.5 z (1 + t) multiplies it by 0.5 |z| and adds a
      // few roundings of the result; the product with up scales all by |u|.
      const double z = g[i];
      const double a = 0.7978845608 * std::fabs(z + 0.044715 * z * z * z);
      const double bound =
          std::fabs(u[i]) * (0.5 * std::fabs(z) * (4 + 3 * a) * 2 * kU32) + 4 * kU32 * std::fabs(outr[i]);
      ASSERT_LE(std::fabs(double{out[i]} - outr[i]), bound + 1e-30)
          << hwy::TargetName(HWY_TARGET) << " n=" << n << " i=" << i << " z=" << z;
    }
  }
}

void TestSoftcap() {
  for (int64_t n : kSizes) {
    auto x = test_util::RandomFloats(static_cast<size_t>(n), 3 * n, -200.0f, 200.0f);
    auto xr = x;
    const std::vector<float> x0 = x;
    SoftcapRow(x.data(), n, 30.0f);
    ref::Softcap(xr.data(), n, 30.0f);
    for (int64_t i = 0; i < n; ++i) {
      // x/cap rounds twice (1/cap, product): the tanh argument is off by 2u
      // relative, tanh' <= 1; tanh itself is within 4 ulp; the final product
      // with cap adds one rounding.
      const double bound = 30.0 * (2 * kU32 * std::fabs(x0[i] / 30.0) + 8 * kU32) + kU32 * 30;
      ASSERT_LE(std::fabs(double{x[i]} - xr[i]), bound)
          << hwy::TargetName(HWY_TARGET) << " n=" << n << " x=" << x0[i];
    }
  }
}

void TestScaleAdd() {
  for (int64_t n : kSizes) {
    auto x = test_util::RandomFloats(static_cast<size_t>(n), n + 9);
    auto y = test_util::RandomFloats(static_cast<size_t>(n), n + 10);
    auto xr = x, yr = y;
    ScaleRow(x.data(), n, 0.3f);
    ref::Scale(xr.data(), n, 0.3f);
    AddRow(x.data(), y.data(), n);
    ref::Add(xr.data(), yr.data(), n);
    // One IEEE operation per element on both sides: bitwise equal.
    ASSERT_EQ(0, std::memcmp(x.data(), xr.data(), n * 4)) << hwy::TargetName(HWY_TARGET);
    ASSERT_EQ(0, std::memcmp(y.data(), yr.data(), n * 4)) << hwy::TargetName(HWY_TARGET);
  }
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {

HWY_BEFORE_TEST(ElementwiseTargetTest);
HWY_EXPORT_AND_TEST_P(ElementwiseTargetTest, TestGeluTanhMul);
HWY_EXPORT_AND_TEST_P(ElementwiseTargetTest, TestSoftcap);
HWY_EXPORT_AND_TEST_P(ElementwiseTargetTest, TestScaleAdd);

// Public entry points, dispatched to each target in turn by the fixture.
class PublicOpsTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(PublicOpsTest);

TEST_P(PublicOpsTest, ArgmaxFirstOnTiesAndAnywhere) {
  for (int64_t n : {1, 2, 7, 16, 17, 100, 262144}) {
    std::vector<float> x = test_util::RandomFloats(static_cast<size_t>(n), n, -5, 5);
    for (int64_t pos : {int64_t{0}, n / 2, n - 1}) {
      std::vector<float> y = x;
      y[pos] = 9.0f;
      ASSERT_EQ(Argmax(y.data(), n), pos) << n;
      ASSERT_EQ(Argmax(y.data(), n), ref::Argmax(y.data(), n));
    }
    if (n >= 3) {
      std::vector<float> y = x;
      y[n - 1] = 9.0f;
      y[1] = 9.0f;  // tie: the lower index wins
      ASSERT_EQ(Argmax(y.data(), n), 1);
    }
  }
  const float neg[] = {-3.0f, -1.0f, -1.0f, -2.0f};
  EXPECT_EQ(Argmax(neg, 4), 1);
}

TEST_P(PublicOpsTest, GeluTanhMulStridedRows) {
  const int64_t rows = 3, n = 9000, ld = 9005;
  const auto g = test_util::RandomFloats(rows * ld, 1, -4, 4);
  const auto u = test_util::RandomFloats(rows * ld, 2);
  std::vector<float> out(rows * ld, 7.0f), outr(rows * ld, 7.0f);
  GeluTanhMul(g.data(), ld, u.data(), ld, rows, n, out.data(), ld);
  ref::GeluTanhMul(g.data(), ld, u.data(), ld, rows, n, outr.data(), ld);
  for (size_t i = 0; i < out.size(); ++i) {
    // |z| <= 4, |up| <= 1: TestGeluTanhMul's bound is below 90 u here.
    ASSERT_NEAR(out[i], outr[i], 128 * test_util::kU32) << i;
  }
}

TEST_P(PublicOpsTest, EmbeddingGatherAllFloatTypes) {
  const int64_t V = 11, H = 37;
  const auto vals = test_util::RandomFloats(V * H, 8);
  const int32_t ids[] = {3, 0, 10, 3};
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    const auto m = test_util::MakeMatrix(vals, V, H, dt, H + 3);
    std::vector<float> out(4 * 40, -1.0f), outr(4 * 40, -1.0f);
    EmbeddingGather(m.view, ids, 4, 39.25f, out.data(), 40);
    ref::EmbeddingGather(m.view, ids, 4, 39.25f, outr.data(), 40);
    // Exact decode and one multiply on both sides: bitwise equal.
    ASSERT_EQ(0, std::memcmp(out.data(), outr.data(), out.size() * 4)) << Name(dt);
  }
}

TEST(EmbeddingTest, RejectsOutOfRangeIds) {
  const auto m = test_util::MakeMatrix(test_util::RandomFloats(6, 1), 2, 3, DType::kF32);
  const int32_t ids[] = {2};
  std::vector<float> out(3);
  EXPECT_DEATH(EmbeddingGather(m.view, ids, 1, 1.0f, out.data(), 3), "out of range");
}

}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
