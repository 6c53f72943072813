// RMSNormGgml, AddRMSNormGgml (kernels/cpu/elementwise_ggml.h).
//
// The norms' cost is ggml's sequential double sum of squares (one dependent
// add per element). GgmlSumSquaresImpl keeps its result bit for bit but adds
// 64 squares at once wherever it can prove that no rounding happens in the
// sequential order (the proof is at the function); elsewhere it adds them in
// order. Products that ggml rounds before an add are kept from being fused
// into an FMA (GCC contracts scalar and Highway vector mul + add alike on
// targets with FMA). Rows go to tasks whole, so the split cannot change a bit.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/elementwise_ggml.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/elementwise_ggml.h"
#include "kernels/cpu/f16-inl.h"
#include "kernels/cpu/qmatmul.h"  // Materialize
#include "kernels/parallel.h"
#include "quant/float16.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ggml's sequential sum of float squares in double (elementwise_ggml.h),
// 64 elements per step. Where the step provably has no rounding in the
// sequential order, its exact sum is added at once (any order of exact sums
// agrees); otherwise the 64 are added one by one. So the result is the
// sequential sum bit for bit on every target, whichever way a step goes.
//
// The proof: all terms (s and the step's squares) are non-negative multiples
// of 2^unit, where unit = min(lowest set bit of s, lowest bit a square with
// that float exponent can have, 2^(e - 150)). If the step's result is below
// 2^(53 + unit), every partial sum in any order is a multiple of 2^unit below
// 2^(53 + unit), hence exact in double. A computed (rounded-to-nearest) sum
// of non-negative terms below that power of two implies the exact one is
// below it too, so testing the computed result is enough.
double GgmlSumSquaresImpl(const float* HWY_RESTRICT x, int64_t dim) {
  constexpr int64_t kStep = 64;
  // Float lanes as many as double lanes, so each square widens in place.
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  double s = 0.0;
  int64_t i = 0;
  if (N <= kStep && kStep % N == 0) {
    const auto zero_bits = hn::Zero(du);
    const auto no_exponent = hn::Set(du, 255u);
    for (; i + kStep <= dim; i += kStep) {
      auto e_min = no_exponent, e_max = zero_bits;
      auto acc = hn::Zero(dd);
      for (int64_t c = 0; c < kStep; c += N) {
        const auto v = hn::LoadU(df, x + i + c);
        const auto q = hn::Mul(v, v);
        const auto bits = hn::BitCast(du, q);
        // With the sign bit: a negative NaN reads >= 256.
        const auto e = hn::ShiftRight<23>(bits);
        e_max = hn::Max(e_max, e);
        e_min = hn::Min(e_min, hn::IfThenElse(hn::Eq(bits, zero_bits), no_exponent, e));
        acc = hn::Add(acc, hn::PromoteTo(dd, q));
      }
      const uint32_t emax = hn::GetLane(hn::MaxOfLanes(du, e_max));
      const uint32_t emin = hn::GetLane(hn::MinOfLanes(du, e_min));
      const double end = s + hn::GetLane(hn::SumOfLanes(dd, acc));
      int unit = static_cast<int>(emin) - 150;
      uint64_t sb, eb;
      std::memcpy(&sb, &s, sizeof(sb));
      std::memcpy(&eb, &end, sizeof(eb));
      if (s != 0.0) {
        const uint64_t mant = (sb & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 52);
        const int s_lsb = static_cast<int>(sb >> 52) - 1075 + std::countr_zero(mant);
        unit = std::min(unit, s_lsb);
      }
      if (emax < 255 && (end == 0.0 || static_cast<int>(eb >> 52) - 1023 < 53 + unit)) {
        s = end;
        continue;
      }
      for (int64_t c = 0; c < kStep; ++c) {
        s += static_cast<double>(internal::Materialize(x[i + c] * x[i + c]));
      }
    }
  }
  for (; i < dim; ++i) s += static_cast<double>(internal::Materialize(x[i] * x[i]));
  return s;
}

// y = (x * scale) * w (w may be null): products only, nothing to contract.
// y may equal x.
void ScaleRowImpl(const float* x, int64_t dim, float scale, const float* w, float* y) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int64_t i = 0;
  for (; i + N <= dim; i += N) {
    auto v = hn::Mul(hn::LoadU(df, x + i), vs);
    if (w != nullptr) v = hn::Mul(v, hn::LoadU(df, w + i));
    hn::StoreU(v, df, y + i);
  }
  for (; i < dim; ++i) y[i] = w != nullptr ? (x[i] * scale) * w[i] : x[i] * scale;
}

// x += float((d * scale) * w) (w may be null), the product rounded before the
// add. GCC fuses a vector multiply and add into an FMA like scalar ones, so
// on x86 the product passes through an empty asm that it cannot see into;
// elsewhere the scalar loop with Materialize does it all.
void AddScaledRowImpl(const float* HWY_RESTRICT d, int64_t dim, float scale,
                      const float* HWY_RESTRICT w, float* HWY_RESTRICT x) {
  int64_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  for (; i + N <= dim; i += N) {
    auto v = hn::Mul(hn::LoadU(df, d + i), vs);
    if (w != nullptr) v = hn::Mul(v, hn::LoadU(df, w + i));
    asm("" : "+v"(v.raw));
    hn::StoreU(hn::Add(v, hn::LoadU(df, x + i)), df, x + i);
  }
#endif
  for (; i < dim; ++i) {
    float v = d[i] * scale;
    if (w != nullptr) v = v * w[i];
    x[i] = internal::Materialize(v) + x[i];
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(GgmlSumSquaresImpl);
HWY_EXPORT(ScaleRowImpl);
HWY_EXPORT(AddScaledRowImpl);

namespace {

// Rows per task, ~32K elements (as kernels::RMSNorm).
int64_t NormGrain(int64_t dim) {
  return std::max<int64_t>(1, (int64_t{32} << 10) / std::max<int64_t>(1, dim));
}

// ggml's 1 / sqrt(mean + eps) of one row (see the header).
float RmsScale(const float* x, int64_t dim, float eps) {
  const double sum = internal::GgmlSumSquares(x, dim);
  const float mean = static_cast<float>(sum / static_cast<double>(dim));
  return 1.0f / std::sqrt(mean + eps);
}

void CheckNorm(const char* op, int64_t n_rows, int64_t dim, int64_t ldx, int64_t ldy) {
  SOV_CHECK(n_rows >= 0 && dim > 0 && ldx >= dim && ldy >= dim)
      << op << ": bad geometry (rows " << n_rows << ", dim " << dim << ", ld " << ldx << "/" << ldy
      << ")";
}

}  // namespace

void RMSNormGgml(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
                 float eps, float* y, int64_t ldy) {
  CheckNorm("RMSNormGgml", n_rows, dim, ldx, ldy);
  ParallelFor(n_rows, NormGrain(dim), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * ldx;
      HWY_DYNAMIC_DISPATCH(ScaleRowImpl)(xr, dim, RmsScale(xr, dim, eps), weight, y + r * ldy);
    }
  });
}

void AddRMSNormGgml(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                    int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                    int64_t ldy) {
  CheckNorm("AddRMSNormGgml", n_rows, dim, ldx, y != nullptr ? ldy : dim);
  SOV_CHECK(ldd >= dim) << "AddRMSNormGgml: ldd " << ldd << " < dim " << dim;
  ParallelFor(n_rows, NormGrain(dim), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* xr = x + r * ldx;
      const float* dr = delta + r * ldd;
      HWY_DYNAMIC_DISPATCH(AddScaledRowImpl)(dr, dim, RmsScale(dr, dim, eps), w_post, xr);
      if (y != nullptr) {
        HWY_DYNAMIC_DISPATCH(ScaleRowImpl)(xr, dim, RmsScale(xr, dim, eps), w_next, y + r * ldy);
      }
    }
  });
}

namespace internal {

double GgmlSumSquares(const float* x, int64_t dim) {
  return HWY_DYNAMIC_DISPATCH(GgmlSumSquaresImpl)(x, dim);
}
}  // namespace internal

}  // namespace sov::kernels
#endif  // HWY_ONCE
