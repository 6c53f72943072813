// Scalar oracle of the integer-dot-product MatMul (kernels/cpu/qmatmul.h):
// activation rows quantized with quant/'s quantizers (QuantizeRows for Q8_K,
// ggml's x86 QuantizeActQ8_0 / QuantizeActQ8_1 for Q8_0 / Q8_1), per-block
// integer sums decoded element by element from the spec layouts, and the
// float combination in the documented order, one rounding per statement.
#include <vector>

#include "absl/status/status.h"
#include "kernels/reference/reference.h"
#include "quant/act_quant.h"
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

// Unsigned 4- or 5-bit value of element e (0..31) of a Q4_0/Q4_1/Q5_0/Q5_1
// block: elements 0..15 in the low nibbles, 16..31 in the high nibbles, the
// 5th bit of element e at bit e of the little-endian 32-bit qh.
int LegacyU(const uint8_t* qs, const uint8_t* qh, int e) {
  int u = e < 16 ? (qs[e] & 0xF) : (qs[e - 16] >> 4);
  if (qh != nullptr) u |= ((qh[e / 8] >> (e % 8)) & 1) << 4;
  return u;
}

uint16_t Half(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Q4_0 / Q5_0 against Q8_0 activations, Q4_1 / Q5_1 against Q8_1. Block
// layouts (bytes): Q4_0 d|qs[16]; Q4_1 d|m|qs[16]; Q5_0 d|qh[4]|qs[16];
// Q5_1 d|m|qh[4]|qs[16].
float DotLegacy(DType t, const uint8_t* wrow, const uint8_t* act, int64_t nb) {
  const bool has_min = t == DType::kQ4_1 || t == DType::kQ5_1;
  const bool five = t == DType::kQ5_0 || t == DType::kQ5_1;
  const int offset = has_min ? 0 : (five ? 16 : 8);
  const size_t wb = RowBytes(t, kQK), ab = has_min ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* x = wrow + wb * i;
    const uint8_t* a = act + ab * i;
    const uint8_t* after_scales = x + (has_min ? 4 : 2);
    const uint8_t* qh = five ? after_scales : nullptr;
    const uint8_t* qs = after_scales + (five ? 4 : 0);
    const int8_t* aq = reinterpret_cast<const int8_t*>(a + (has_min ? 4 : 2));
    int64_t sumi = 0;
    for (int e = 0; e < kQK; ++e) sumi += (LegacyU(qs, qh, e) - offset) * aq[e];
    const float d = Fp16ToFp32(Half(x)) * Fp16ToFp32(Half(a));
    const float pos = Rounded(d * static_cast<float>(sumi));
    acc = acc + pos;
    if (has_min) {
      const float mn = Rounded(Fp16ToFp32(Half(x + 2)) * Fp16ToFp32(Half(a + 2)));
      acc = acc + mn;
    }
  }
  return acc;
}

}  // namespace

void QuantMatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                 int64_t ldy) {
  const DType wt = w.dtype;
  const bool kquant = wt == DType::kQ4_K || wt == DType::kQ5_K || wt == DType::kQ6_K;
  const bool q8_1 = wt == DType::kQ4_1 || wt == DType::kQ5_1;
  const bool q8_0 = wt == DType::kQ8_0 || wt == DType::kQ4_0 || wt == DType::kQ5_0;
  SOV_CHECK(kquant || q8_0 || q8_1) << "ref::QuantMatMul: unsupported weight dtype " << Name(wt);
  const int64_t K = w.cols, nb = K / (kquant ? kQK_K : kQK);
  std::vector<uint8_t> act(kquant ? RowBytes(DType::kQ8_K, K)
                           : q8_1 ? nb * sizeof(BlockQ8_1)
                                  : nb * sizeof(BlockQ8_0));
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * ldx;
    if (kquant) {
      const absl::Status s = QuantizeRows(DType::kQ8_K, xr, 1, K, nullptr, act.data());
      SOV_CHECK(s.ok()) << s;
    } else if (q8_1) {
      QuantizeActQ8_1(xr, reinterpret_cast<BlockQ8_1*>(act.data()), K);
    } else {
      QuantizeActQ8_0(xr, reinterpret_cast<BlockQ8_0*>(act.data()), K);
    }
    for (int64_t n = 0; n < w.rows; ++n) {
      float v;
      if (kquant) {
        v = DotK(wt, w.row(n), reinterpret_cast<const BlockQ8_K*>(act.data()), nb);
      } else if (wt == DType::kQ8_0) {
        v = DotQ8_0(reinterpret_cast<const BlockQ8_0*>(w.row(n)),
                    reinterpret_cast<const BlockQ8_0*>(act.data()), nb);
      } else {
        v = DotLegacy(wt, w.row(n), act.data(), nb);
      }
      y[t * ldy + n] = v;
    }
  }
}

}  // namespace sov::kernels::ref
