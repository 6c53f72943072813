// MatMul on every compiled Highway target against the scalar reference, plus
// thread-count determinism and the quantized-weight path.
#include <cmath>
#include <cstring>
#include <vector>

#include <tbb/task_arena.h>

#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"
#include "kernels/weight_row.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

using test_util::kU32;

// Error bound: every output is a sum of K products computed in float32 with
// at most K + 1 roundings on any path (products, FMA, lane reduction, tail),
// so |y - exact| <= (K + 1) u sum_k |x_k w_k| (Higham's a-priori bound for
// any summation order). The reference is exact to ~1e-16 relative in double,
// so the same bound applies to the difference.
void CheckShape(DType dtype, int64_t T, int64_t N, int64_t K, int64_t ldx, int64_t ldy) {
  const auto wvals = test_util::RandomFloats(static_cast<size_t>(N * K), 1000 + N * 7 + K);
  const test_util::TestMatrix m = test_util::MakeMatrix(wvals, N, K, dtype, K + (K % 3));
  const auto x = test_util::RandomFloats(static_cast<size_t>(T * ldx), 77 + T, -2.0f, 2.0f);
  std::vector<float> y(static_cast<size_t>(T * ldy), -7.0f), yr(y.size(), -7.0f);
  if (dtype == DType::kF32) {
    MatMulDirect<float>(x.data(), T, ldx, m.view, y.data(), ldy);
  } else if (dtype == DType::kBF16) {
    MatMulDirect<hwy::bfloat16_t>(x.data(), T, ldx, m.view, y.data(), ldy);
  } else {
    MatMulDirect<hwy::float16_t>(x.data(), T, ldx, m.view, y.data(), ldy);
  }
  ref::MatMul(x.data(), T, ldx, m.view, yr.data(), ldy);
  std::vector<float> wrow(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    DecodeRow(m.view, n, wrow.data());
    for (int64_t t = 0; t < T; ++t) {
      double mag = 0.0;
      for (int64_t k = 0; k < K; ++k) mag += std::fabs(double{x[t * ldx + k]} * wrow[k]);
      const double bound = (K + 1) * kU32 * mag;
      const float got = y[t * ldy + n], want = yr[t * ldy + n];
      ASSERT_LE(std::fabs(double{got} - want), bound)
          << hwy::TargetName(HWY_TARGET) << " " << Name(dtype) << " T=" << T << " N=" << N
          << " K=" << K << " t=" << t << " n=" << n << " got " << got << " want " << want;
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = N; n < ldy; ++n) ASSERT_EQ(y[t * ldy + n], -7.0f) << "wrote past N";
  }
}

void TestMatMulShapes() {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t K : {1, 3, 17, 33, 72, 255, 257}) {
      for (int64_t N : {1, 3, 4, 5, 17, 33}) {
        for (int64_t T : {1, 2, 3, 4, 5, 8, 9, 40}) {
          CheckShape(dtype, T, N, K, K, N);
        }
      }
    }
    // Strided x and y (slices of wider buffers), and a token count that
    // crosses a token block (TokenBlock(1500) == 40).
    CheckShape(dtype, 5, 7, 33, 40, 11);
    CheckShape(dtype, 45, 9, 1500, 1503, 9);
  }
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {

HWY_BEFORE_TEST(MatMulTargetTest);
HWY_EXPORT_AND_TEST_P(MatMulTargetTest, TestMatMulShapes);

std::vector<float> RunInArena(int threads, const float* x, int64_t T, const WeightView& w) {
  std::vector<float> y(static_cast<size_t>(T * w.rows));
  tbb::task_arena arena(threads);
  arena.execute([&] { MatMul(x, T, w.cols, w, y.data(), w.rows); });
  return y;
}

TEST(MatMulTest, BitwiseIdenticalForOneAndTwoThreads) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const int64_t N = 259, K = 1000, T = 70;
    const auto wv = test_util::RandomFloats(static_cast<size_t>(N * K), 5);
    const auto m = test_util::MakeMatrix(wv, N, K, dtype);
    const auto x = test_util::RandomFloats(static_cast<size_t>(T * K), 6);
    for (int64_t t : {int64_t{1}, T}) {
      const auto y1 = RunInArena(1, x.data(), t, m.view);
      const auto y2 = RunInArena(2, x.data(), t, m.view);
      ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << Name(dtype) << " T=" << t;
      // T = 1 must equal the first row of the batched result: token blocking
      // never changes an element's accumulation order.
      if (t == T) {
        const auto y_one = RunInArena(2, x.data(), 1, m.view);
        ASSERT_EQ(0, std::memcmp(y_one.data(), y1.data(), y_one.size() * 4)) << Name(dtype);
      }
    }
  }
}

TEST(MatMulTest, RejectsBadStrides) {
  const auto m = test_util::MakeMatrix(test_util::RandomFloats(12, 1), 3, 4, DType::kF32);
  std::vector<float> x(8), y(6);
  EXPECT_DEATH(MatMul(x.data(), 2, 3, m.view, y.data(), 3), "ldx");
}

}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
