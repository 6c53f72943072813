// RMSNormGgml, AddRMSNormGgml, GeluTanhMulGgml (kernels/cpu/elementwise_ggml.h).
//
// The norms' cost is the sequential double sum of squares (one dependent add
// per element), which cannot be split within a row without changing its
// roundings (another order is exact only when the squares span fewer than
// ~30 binades, which real activations with near-zero entries do not). So
// up to 8 rows are summed side by side instead, each in ggml's order: the
// chains overlap in time, not in value. Portable code on every target.
// Products that ggml rounds before an add go through Materialize so that no
// compiler (aarch64 and x86 with FMA contract by default) fuses them.
// Rows go to tasks whole, so the split cannot change a bit.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

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

// One row of GeluTanhMulGgml; the vector body and the tail apply the same
// rule (a table lookup and one product: exact to reorder).
void GeluGgmlRow(const float* HWY_RESTRICT gate, const float* HWY_RESTRICT up, int64_t n,
                 float* HWY_RESTRICT out, const float* HWY_RESTRICT table) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto lo = hn::Set(df, -10.0f), hi = hn::Set(df, 10.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto idx = hn::BitCast(di, F16Bits(df, g));
    const auto act = hn::IfThenElse(hn::Ge(g, hi), g, hn::GatherIndex(df, table, idx));
    const auto y = hn::Mul(act, hn::LoadU(df, up + i));
    hn::StoreU(hn::IfThenZeroElse(hn::Le(g, lo), y), df, out + i);
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g <= -10.0f ? 0.0f : g >= 10.0f ? g * up[i] : table[Fp32ToFp16(g)] * up[i];
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(GeluGgmlRow);

namespace {

// Rows per task (each task sums its rows side by side), ~8K elements.
int64_t NormGrain(int64_t dim) {
  const int64_t rows = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, dim));
  return (rows + 7) / 8 * 8;
}

// Sums of squares of R rows side by side. Per column tile the float squares
// are widened into `sq` first (products and conversions only, which the
// compiler may vectorise: no add to fuse them with, and a float product
// converted to double is not contractible), then each row's chain adds its
// tile entries in column order.
template <int R>
void SumSquaresFixed(const float* x, int64_t ld, int64_t dim, double* sums) {
  constexpr int64_t kTile = 16;
  double sum[R] = {};
  double sq[R][kTile];
  for (int64_t i0 = 0; i0 < dim; i0 += kTile) {
    const int64_t len = std::min(kTile, dim - i0);
    for (int r = 0; r < R; ++r) {
      const float* row = x + r * ld + i0;
      for (int64_t c = 0; c < len; ++c) sq[r][c] = static_cast<double>(row[c] * row[c]);
    }
    for (int64_t c = 0; c < len; ++c) {
      for (int r = 0; r < R; ++r) sum[r] += sq[r][c];
    }
  }
  for (int r = 0; r < R; ++r) sums[r] = sum[r];
}

// scales[r] = ggml's 1 / sqrt(mean + eps) (see the header) of row r < n.
void RmsScales(const float* x, int64_t ld, int64_t n, int64_t dim, float eps, float* scales) {
  constexpr int kGroup = 8;
  double sums[kGroup];
  for (int64_t r0 = 0; r0 < n; r0 += kGroup) {
    const float* rows = x + r0 * ld;
    const int m = static_cast<int>(std::min<int64_t>(kGroup, n - r0));
    switch (m) {
      case 8:
        SumSquaresFixed<8>(rows, ld, dim, sums);
        break;
      case 7:
        SumSquaresFixed<7>(rows, ld, dim, sums);
        break;
      case 6:
        SumSquaresFixed<6>(rows, ld, dim, sums);
        break;
      case 5:
        SumSquaresFixed<5>(rows, ld, dim, sums);
        break;
      case 4:
        SumSquaresFixed<4>(rows, ld, dim, sums);
        break;
      case 3:
        SumSquaresFixed<3>(rows, ld, dim, sums);
        break;
      case 2:
        SumSquaresFixed<2>(rows, ld, dim, sums);
        break;
      default:
        SumSquaresFixed<1>(rows, ld, dim, sums);
        break;
    }
    for (int r = 0; r < m; ++r) {
      const float mean = static_cast<float>(sums[r] / static_cast<double>(dim));
      scales[r0 + r] = 1.0f / std::sqrt(mean + eps);
    }
  }
}

// y = (x * scale) * w: products only, nothing to contract, free to vectorise.
void ScaleRow(const float* x, int64_t dim, float scale, const float* w, float* y) {
  if (w != nullptr) {
    for (int64_t i = 0; i < dim; ++i) y[i] = (x[i] * scale) * w[i];
  } else {
    for (int64_t i = 0; i < dim; ++i) y[i] = x[i] * scale;
  }
}

void CheckNorm(const char* op, int64_t n_rows, int64_t dim, int64_t ldx, int64_t ldy) {
  SOV_CHECK(n_rows >= 0 && dim > 0 && ldx >= dim && ldy >= dim)
      << op << ": bad geometry (rows " << n_rows << ", dim " << dim << ", ld " << ldx << "/" << ldy
      << ")";
}

// ggml_gelu_f32 as built for x86-64 with FMA (see the header).
float GeluGgmlF32(float x) {
  constexpr float kCoefA = 0.044715f;
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  const float inner = std::fma(kCoefA * x, x, 1.0f);
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * inner));
}

const std::array<float, 65536>& GeluTable() {
  static const std::array<float, 65536>* table = [] {
    auto* t = new std::array<float, 65536>();
    for (uint32_t h = 0; h < 65536; ++h) {
      (*t)[h] = Fp16ToFp32(Fp32ToFp16(GeluGgmlF32(Fp16ToFp32(static_cast<uint16_t>(h)))));
    }
    return t;
  }();
  return *table;
}

}  // namespace

void RMSNormGgml(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
                 float eps, float* y, int64_t ldy) {
  CheckNorm("RMSNormGgml", n_rows, dim, ldx, ldy);
  ParallelFor(n_rows, NormGrain(dim), [&](int64_t b, int64_t e) {
    std::vector<float> scales(static_cast<size_t>(e - b));
    RmsScales(x + b * ldx, ldx, e - b, dim, eps, scales.data());
    for (int64_t r = b; r < e; ++r) ScaleRow(x + r * ldx, dim, scales[r - b], weight, y + r * ldy);
  });
}

void AddRMSNormGgml(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                    int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                    int64_t ldy) {
  CheckNorm("AddRMSNormGgml", n_rows, dim, ldx, y != nullptr ? ldy : dim);
  SOV_CHECK(ldd >= dim) << "AddRMSNormGgml: ldd " << ldd << " < dim " << dim;
  ParallelFor(n_rows, NormGrain(dim), [&](int64_t b, int64_t e) {
    std::vector<float> scales(static_cast<size_t>(e - b));
    RmsScales(delta + b * ldd, ldd, e - b, dim, eps, scales.data());
    for (int64_t r = b; r < e; ++r) {
      float* xr = x + r * ldx;
      const float* dr = delta + r * ldd;
      const float s = scales[r - b];
      for (int64_t i = 0; i < dim; ++i) {
        float v = dr[i] * s;
        if (w_post != nullptr) v = v * w_post[i];
        xr[i] = internal::Materialize(v) + xr[i];
      }
    }
    if (y == nullptr) return;
    RmsScales(x + b * ldx, ldx, e - b, dim, eps, scales.data());
    for (int64_t r = b; r < e; ++r) ScaleRow(x + r * ldx, dim, scales[r - b], w_next, y + r * ldy);
  });
}

namespace internal {
uint16_t GeluGgmlTableEntry(uint16_t h) { return Fp32ToFp16(GeluTable()[h]); }
}  // namespace internal

void GeluTanhMulGgml(const float* gate, int64_t ldg, const float* up, int64_t ldu, int64_t n_rows,
                     int64_t n, float* out, int64_t ldo) {
  SOV_CHECK(n_rows >= 0 && n >= 0 && ldg >= n && ldu >= n && ldo >= n)
      << "GeluTanhMulGgml: bad geometry";
  const float* table = GeluTable().data();
  constexpr int64_t kGrain = 1 << 13;  // elements per task
  const int64_t chunks_per_row = std::max<int64_t>(1, (n + kGrain - 1) / kGrain);
  ParallelFor(n_rows * chunks_per_row, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r = c / chunks_per_row, i0 = (c % chunks_per_row) * kGrain;
      const int64_t i1 = std::min(n, i0 + kGrain);
      HWY_DYNAMIC_DISPATCH(GeluGgmlRow)
      (gate + r * ldg + i0, up + r * ldu + i0, i1 - i0, out + r * ldo + i0, table);
    }
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
