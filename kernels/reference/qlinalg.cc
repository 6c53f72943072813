// Scalar oracle of the integer-dot-product MatMul (kernels/cpu/qmatmul.h):
// activation rows quantized with quant/'s reference quantizers, per-block
// integer sums decoded element by element from the spec layouts, and the
// float combination in the documented order, one rounding per statement.
#include <vector>

#include "absl/status/status.h"
#include "kernels/reference/reference.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/quantize.h"
#include "runtime/check.h"

namespace sov::kernels::ref {
namespace {

// No FMA contraction of the products (the kernels' Materialize, see qmatmul.h).
float Rounded(float v) {
  volatile float t = v;
  return t;
}

// 4-bit quant of element e of a Q4_K / Q5_K super-block (spec §5.1).
int Low4K(const uint8_t* qs, int e) {
  const int j = e / 32, l = e % 32;
  return (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
}

// Stored 6-bit value u (0..63) of element e of a Q6_K super-block (spec §7.1).
int U6K(const BlockQ6_K& x, int e) {
  const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
  const uint8_t lq = x.ql[64 * h + 32 * (quarter % 2) + l];
  const int low = quarter < 2 ? (lq & 0xF) : (lq >> 4);
  const int high = (x.qh[32 * h + l] >> (2 * quarter)) & 3;
  return low | (high << 4);
}

float DotK(DType t, const uint8_t* wrow, const BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int64_t sumi = 0, summ = 0;  // int64: any overflow of the kernels' int32 would show
    uint16_t d_bits = 0, dmin_bits = 0;
    if (t == DType::kQ6_K) {
      const auto& x = reinterpret_cast<const BlockQ6_K*>(wrow)[i];
      d_bits = x.d;
      for (int g = 0; g < 16; ++g) {
        int64_t s = 0;
        for (int e = 16 * g; e < 16 * g + 16; ++e) s += (U6K(x, e) - 32) * a[i].qs[e];
        sumi += x.scales[g] * s;
      }
    } else {
      const uint8_t* scales;
      const uint8_t* qs;
      const uint8_t* qh = nullptr;
      if (t == DType::kQ4_K) {
        const auto& x = reinterpret_cast<const BlockQ4_K*>(wrow)[i];
        d_bits = x.d, dmin_bits = x.dmin, scales = x.scales, qs = x.qs;
      } else {
        const auto& x = reinterpret_cast<const BlockQ5_K*>(wrow)[i];
        d_bits = x.d, dmin_bits = x.dmin, scales = x.scales, qs = x.qs, qh = x.qh;
      }
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        GetScaleMinK4(j, scales, &sc, &m);
        int64_t s = 0;
        for (int e = 32 * j; e < 32 * j + 32; ++e) {
          int q = Low4K(qs, e);
          if (qh) q |= ((qh[e % 32] >> j) & 1) << 4;
          s += q * a[i].qs[e];
        }
        sumi += sc * s;
        summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
      }
    }
    SOV_CHECK(sumi == static_cast<int32_t>(sumi) && summ == static_cast<int32_t>(summ));
    const float d = Fp16ToFp32(d_bits) * a[i].d;
    const float m = Fp16ToFp32(dmin_bits) * a[i].d;
    const float pos = Rounded(d * static_cast<float>(sumi));
    const float neg = Rounded(m * static_cast<float>(summ));
    acc = acc + pos;
    acc = acc - neg;
  }
  return acc;
}

float DotQ8_0(const BlockQ8_0* x, const BlockQ8_0* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t s = 0;
    for (int l = 0; l < kQK; ++l) s += x[i].qs[l] * a[i].qs[l];
    const float d = Fp16ToFp32(x[i].d) * Fp16ToFp32(a[i].d);
    const float pos = Rounded(d * static_cast<float>(s));
    acc = acc + pos;
  }
  return acc;
}

}  // namespace

void QuantMatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                 int64_t ldy) {
  const bool q8_0 = w.dtype == DType::kQ8_0;
  SOV_CHECK(q8_0 || w.dtype == DType::kQ4_K || w.dtype == DType::kQ5_K || w.dtype == DType::kQ6_K)
      << "ref::QuantMatMul: unsupported weight dtype " << Name(w.dtype);
  const DType at = q8_0 ? DType::kQ8_0 : DType::kQ8_K;
  const int64_t K = w.cols, nb = K / BlockSize(at);
  std::vector<uint8_t> act(RowBytes(at, K));
  for (int64_t t = 0; t < T; ++t) {
    const absl::Status s = QuantizeRows(at, x + t * ldx, 1, K, nullptr, act.data());
    SOV_CHECK(s.ok()) << s;
    for (int64_t n = 0; n < w.rows; ++n) {
      y[t * ldy + n] =
          q8_0 ? DotQ8_0(reinterpret_cast<const BlockQ8_0*>(w.row(n)),
                         reinterpret_cast<const BlockQ8_0*>(act.data()), nb)
               : DotK(w.dtype, w.row(n), reinterpret_cast<const BlockQ8_K*>(act.data()), nb);
    }
  }
}

}  // namespace sov::kernels::ref
