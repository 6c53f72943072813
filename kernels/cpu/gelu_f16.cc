// GeluTanhMulF16Table: llama.cpp's table GELU (kernels/api.h), with runtime
// target dispatch. The table holds f32(fp16(gelu(h))) for every fp16 bit
// pattern h; a vector of gates is rounded to fp16 (kernels/cpu/f16-inl.h,
// exact on every target) and gathered. Rows are split over threads
// (element-wise: any split is exact).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/gelu_f16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/api.h"
#include "kernels/cpu/f16-inl.h"
#include "kernels/parallel.h"
#include "quant/float16.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The scalar rule (also the tail of the vector loop).
HWY_INLINE float GeluTableScalar(float x, float u, const float* table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x * u;
  return table[Fp32ToFp16(x)] * u;
}

void GeluF16Row(const float* HWY_RESTRICT gate, const float* HWY_RESTRICT up, int64_t n,
                float* HWY_RESTRICT out, const float* HWY_RESTRICT table) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto lo = hn::Set(df, -10.0f), hi = hn::Set(df, 10.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::LoadU(df, gate + i);
    const auto idx = hn::BitCast(di, F16Bits(df, x));
    const auto act = hn::IfThenElse(hn::Ge(x, hi), x, hn::GatherIndex(df, table, idx));
    const auto y = hn::Mul(act, hn::LoadU(df, up + i));
    hn::StoreU(hn::IfThenZeroElse(hn::Le(x, lo), y), df, out + i);
  }
  for (; i < n; ++i) out[i] = GeluTableScalar(gate[i], up[i], table);
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {

HWY_EXPORT(GeluF16Row);

// ggml's scalar gelu in float: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))),
// as GCC builds ggml_gelu_f32 for x86-64 with FMA (llama.cpp's -march=native
// build): the inner 1 + (a x) x is one fused multiply-add; the other products
// and sums round separately. The constants are float literals as in ggml; the
// result is rounded to fp16, which absorbs last-bit differences of tanhf
// between C libraries except on entries that sit on an fp16 rounding boundary.
// The fusion matters for exactly one entry, gate fp16 0xbfff (-1.99902):
// 0xa9d3 fused (libggml-cpu's value), 0xa9d2 unfused.
float GeluF32(float x) {
  constexpr float kCoefA = 0.044715f;
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  const float inner = std::fma(kCoefA * x, x, 1.0f);
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * inner));
}

const std::array<float, 65536>& Table() {
  static const std::array<float, 65536>* table = [] {
    auto* t = new std::array<float, 65536>();
    for (uint32_t h = 0; h < 65536; ++h) {
      (*t)[h] = Fp16ToFp32(Fp32ToFp16(GeluF32(Fp16ToFp32(static_cast<uint16_t>(h)))));
    }
    return t;
  }();
  return *table;
}

}  // namespace

uint16_t GeluF16TableEntry(uint16_t h) { return Fp32ToFp16(Table()[h]); }

void GeluTanhMulF16Table(const float* gate, int64_t ldg, const float* up, int64_t ldu,
                         int64_t n_rows, int64_t n, float* out, int64_t ldo) {
  SOV_CHECK(n_rows >= 0 && n >= 0 && ldg >= n && ldu >= n && ldo >= n)
      << "GeluTanhMulF16Table: bad geometry";
  const float* table = Table().data();
  constexpr int64_t kGrain = 1 << 13;  // elements per task
  const int64_t chunks_per_row = (n + kGrain - 1) / kGrain;
  ParallelFor(n_rows * chunks_per_row, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r = c / chunks_per_row, i0 = (c % chunks_per_row) * kGrain;
      const int64_t i1 = std::min(n, i0 + kGrain);
      HWY_DYNAMIC_DISPATCH(GeluF16Row)(gate + r * ldg + i0, up + r * ldu + i0, i1 - i0,
                                       out + r * ldo + i0, table);
    }
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
