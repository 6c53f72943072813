// GeluTanhMulF16Table: llama.cpp's table GELU (kernels/api.h). A table lookup
// per element has no useful SIMD form on the targets we compile, so this is
// scalar; rows are split over threads (element-wise: any split is exact).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "kernels/api.h"
#include "kernels/parallel.h"
#include "quant/float16.h"
#include "runtime/check.h"

namespace sov::kernels {
namespace {

// ggml's scalar gelu in float: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
// The constants are float literals as in ggml; the result is rounded to fp16,
// which absorbs last-bit differences of tanhf between C libraries except on
// the rare entries that sit on an fp16 rounding boundary.
float GeluF32(float x) {
  constexpr float kCoefA = 0.044715f;
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

const std::array<uint16_t, 65536>& Table() {
  static const std::array<uint16_t, 65536>* table = [] {
    auto* t = new std::array<uint16_t, 65536>();
    for (uint32_t h = 0; h < 65536; ++h) {
      (*t)[h] = Fp32ToFp16(GeluF32(Fp16ToFp32(static_cast<uint16_t>(h))));
    }
    return t;
  }();
  return *table;
}

}  // namespace

uint16_t GeluF16TableEntry(uint16_t h) { return Table()[h]; }

void GeluTanhMulF16Table(const float* gate, int64_t ldg, const float* up, int64_t ldu,
                         int64_t n_rows, int64_t n, float* out, int64_t ldo) {
  SOV_CHECK(n_rows >= 0 && n >= 0 && ldg >= n && ldu >= n && ldo >= n)
      << "GeluTanhMulF16Table: bad geometry";
  const std::array<uint16_t, 65536>& table = Table();
  constexpr int64_t kGrain = 1 << 13;  // elements per task
  const int64_t chunks_per_row = (n + kGrain - 1) / kGrain;
  ParallelFor(n_rows * chunks_per_row, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r = c / chunks_per_row, i0 = (c % chunks_per_row) * kGrain;
      const int64_t i1 = std::min(n, i0 + kGrain);
      const float* g = gate + r * ldg;
      const float* u = up + r * ldu;
      float* o = out + r * ldo;
      for (int64_t i = i0; i < i1; ++i) {
        const float x = g[i];
        float act;
        if (x <= -10.0f) {
          o[i] = 0.0f;
          continue;
        }
        if (x >= 10.0f) {
          act = x;
        } else {
          act = Fp16ToFp32(table[Fp32ToFp16(x)]);
        }
        o[i] = act * u[i];
      }
    }
  });
}

}  // namespace sov::kernels
