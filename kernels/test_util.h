// Helpers shared by the kernel tests and benchmarks: deterministic random
// data, weight matrices in any float dtype, and magnitude-scaled comparisons.
#ifndef SOV_KERNELS_TEST_UTIL_H_
#define SOV_KERNELS_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/api.h"
#include "kernels/weight_row.h"
#include "quant/dtype.h"

namespace sov::kernels::test_util {

// Unit roundoff of float32 (2^-24): the relative error of one rounded
// operation.
inline constexpr double kU32 = 1.0 / 16777216.0;

// Elements whose bit patterns differ (0: bitwise equal, NaN payloads included).
inline int64_t BitwiseDiffs(const float* a, const float* b, int64_t n) {
  int64_t diffs = 0;
  for (int64_t i = 0; i < n; ++i) diffs += std::memcmp(a + i, b + i, sizeof(float)) != 0;
  return diffs;
}
// Vectors of different lengths: the elements only one of them has count too.
inline int64_t BitwiseDiffs(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = std::min(a.size(), b.size());
  return BitwiseDiffs(a.data(), b.data(), static_cast<int64_t>(n)) +
         static_cast<int64_t>(std::max(a.size(), b.size()) - n);
}

inline std::vector<float> RandomFloats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// A rows x cols matrix stored as `dtype` (F32, BF16 or F16), rows padded to
// `row_elems` >= cols elements, built by rounding `values`.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

inline TestMatrix MakeMatrix(const std::vector<float>& values, int64_t rows, int64_t cols,
                             DType dtype, int64_t row_elems = 0) {
  if (row_elems < cols) row_elems = cols;
  TestMatrix m;
  const size_t esize = dtype == DType::kF32 ? 4 : 2;
  m.view.row_bytes = static_cast<size_t>(row_elems) * esize;
  m.bytes.assign(m.view.row_bytes * static_cast<size_t>(rows) + 64, 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = m.bytes.data() + static_cast<size_t>(r) * m.view.row_bytes;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = values[static_cast<size_t>(r * cols + c)];
      if (dtype == DType::kF32) {
        std::memcpy(dst + c * 4, &v, 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? F32ToBf16(v) : F32ToF16(v);
        std::memcpy(dst + c * 2, &h, 2);
      }
    }
  }
  m.view.data = m.bytes.data();
  m.view.dtype = dtype;
  m.view.rows = rows;
  m.view.cols = cols;
  return m;
}

// Largest |a - b| / scale over the elements, scale[i] the per-element
// magnitude bound (e.g. sum |x_k w_k|); 0 when equal.
inline double MaxScaledError(const float* a, const float* b, const double* scale, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= std::numeric_limits<double>::max())) return INFINITY;  // NaN or inf
    const double s = scale[i] > 0 ? scale[i] : std::numeric_limits<double>::min();
    worst = std::max(worst, d / s);
  }
  return worst;
}

}  // namespace sov::kernels::test_util

#endif  // SOV_KERNELS_TEST_UTIL_H_
