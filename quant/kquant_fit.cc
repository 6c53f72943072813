// Written so that each line keeps ggml's association and operand types (int
// levels are converted to float at the same point as in C): the spec's byte
// vectors depend on it. Do not "simplify" an expression here.
#include "quant/kquant_fit.h"

#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/float16.h"
#include "runtime/check.h"

namespace sov::quant_internal {
namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kMaxFitN = 32;  // sub-block sizes: 32 (Q4_K, Q5_K), 16 (Q6_K)

inline int ClampInt(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
inline int MinInt(int a, int b) { return a < b ? a : b; }

// memcmp(a, b, n) == 0 for n a multiple of 8, without a library call (the
// candidate vectors are 16 or 32 bytes and compared once per search step).
inline bool SameBytes(const void* a, const void* b, int n) {
  const auto* pa = static_cast<const uint8_t*>(a);
  const auto* pb = static_cast<const uint8_t*>(b);
  uint64_t diff = 0;
  for (int i = 0; i < n; i += 8) {
    uint64_t u, v;
    std::memcpy(&u, pa + i, 8);
    std::memcpy(&v, pb + i, 8);
    diff |= u ^ v;
  }
  return diff == 0;
}

// Packs eight 6-bit scales and mins (spec §5.1). Bytes 0..7 are assigned by
// the j < 4 iterations before the j >= 4 iterations OR their top bits in.
void PackScalesK4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j - 0] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

}  // namespace

// Speed without changing a bit: the element-wise parts (levels, products,
// squared residuals) go through small arrays in loops the compiler may
// vectorize, and only the sums stay sequential, in index order. A search step
// whose levels equal the previous step's is skipped: it would reproduce the
// previous step's sums exactly, and an equal error never wins (strict <).
float MakeQkxQuants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min,
                    uint8_t* laux, float rmin, float rdelta, int nstep, bool strict_degenerate) {
  SOV_CHECK(n <= kMaxFitN && n % 8 == 0) << "fit of " << n << " values";
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float wi = w[i];
    sum_w += wi;
    sum_x += wi * x[i];
  }
  if (min > 0) min = 0;
  const bool degenerate = strict_degenerate ? (max == min) : (max <= min);
  if (degenerate) {
    std::memset(L, 0, static_cast<size_t>(n));
    *neg_min = -min;
    return 0.f;
  }
  // x - min. Note that ggml's later steps use the min of the best fit so far
  // (both here and in the iscale denominator), so this is refreshed on accept.
  float xm[kMaxFitN];
  for (int i = 0; i < n; ++i) xm[i] = x[i] - min;
  float t0[kMaxFitN], t1[kMaxFitN], t2[kMaxFitN];

  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * xm[i]);
    L[i] = static_cast<uint8_t>(ClampInt(l, 0, nmax));
  }
  for (int i = 0; i < n; ++i) {
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    t0[i] = w[i] * diff;
  }
  float best_error = 0;
  for (int i = 0; i < n; ++i) best_error += t0[i];

  uint8_t prev[kMaxFitN];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    for (int i = 0; i < n; ++i) laux[i] = static_cast<uint8_t>(ClampInt(NearestInt(iscale * xm[i]), 0, nmax));
    if (is > 0 && SameBytes(laux, prev, n)) continue;
    std::memcpy(prev, laux, static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const int l = laux[i];
      const float wl = w[i] * l;
      t0[i] = wl;
      t1[i] = wl * l;
      t2[i] = wl * x[i];
    }
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      sum_l += t0[i];
      sum_l2 += t1[i];
      sum_xl += t2[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * laux[i] + this_min - x[i];
        diff = diff * diff;
        t0[i] = w[i] * diff;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) cur_error += t0[i];
      if (cur_error < best_error) {
        std::memcpy(L, laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
        for (int i = 0; i < n; ++i) xm[i] = x[i] - min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

float MakeQpQuants(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = MaxF(max, x[i]);
  if (max < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(NearestInt(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += w[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * is + nmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = MinInt(nmax, NearestInt(iscale_is * x[i]));
      const float diff = x[i] - scale_is * l;
      mse += w[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = MinInt(nmax, NearestInt(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    sumlx += w[i] * x[i] * l;
    suml2 += w[i] * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float wi = w[i];
      float slx = sumlx - wi * x[i] * L[i];
      float sl2 = suml2 - wi * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        const int new_l = MinInt(nmax, NearestInt(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          slx += wi * x[i] * new_l;
          sl2 += wi * new_l * new_l;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float MakeQxQuants(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  SOV_CHECK(n <= kMaxFitN && n % 8 == 0) << "fit of " << n << " values";
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  float wx[kMaxFitN];  // w * x, the first factor of every sumlx term
  float w[kMaxFitN];
  for (int i = 0; i < n; ++i) {
    w[i] = qw ? qw[i] : x[i] * x[i];
    wx[i] = w[i] * x[i];
  }
  int8_t lv[kMaxFitN], prev[kMaxFitN];  // levels -nmax..nmax-1 fit in int8
  float t0[kMaxFitN], t1[kMaxFitN];
  // Levels and the two sums of one candidate scale (same skip rule as above:
  // a candidate equal to the previous one cannot change the state).
  auto levels = [&](float isc) {
    for (int i = 0; i < n; ++i) lv[i] = static_cast<int8_t>(ClampInt(NearestInt(isc * x[i]), -nmax, nmax - 1));
  };
  auto sums = [&](float* sumlx, float* suml2) {
    for (int i = 0; i < n; ++i) {
      t0[i] = wx[i] * lv[i];
      t1[i] = w[i] * lv[i] * lv[i];
    }
    float a = 0, b = 0;
    for (int i = 0; i < n; ++i) {
      a += t0[i];
      b += t1[i];
    }
    *sumlx = a;
    *suml2 = b;
  };
  float iscale = -nmax / max;
  float sumlx, suml2;
  levels(iscale);
  sums(&sumlx, &suml2);
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(lv[i] + nmax);
  std::memcpy(prev, lv, static_cast<size_t>(n));
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    levels(iscale);
    if (SameBytes(lv, prev, n)) continue;
    std::memcpy(prev, lv, static_cast<size_t>(n));
    sums(&sumlx, &suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + lv[i]);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void QuantizeAsymSuperBlock(const float* x, const float* qw, const AsymRefParams& p,
                            AsymSuperBlock* out) {
  float weights[32];
  float scales[8];
  float mins[8];
  uint8_t laux[32];
  uint8_t ls[8];
  uint8_t lm[8];
  const int nmax = p.nmax;

  if (qw == nullptr) {
    // §5.3: per-sub-block weights, 6-bit scales relative to the largest.
    float max_scale = 0;
    float max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[j] = MakeQkxQuants(32, nmax, xs, weights, out->L + 32 * j, &mins[j], laux, p.rmin,
                                p.rdelta, p.nstep, /*strict_degenerate=*/true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
      // The int result wraps to uint8 before the clamp, as in the C reference.
      const uint8_t s = static_cast<uint8_t>(NearestInt(inv_scale * scales[j]));
      const uint8_t m = static_cast<uint8_t>(NearestInt(inv_min * mins[j]));
      ls[j] = s < 63 ? s : 63;
      lm[j] = m < 63 ? m : 63;
    }
    PackScalesK4(ls, lm, out->scales);
    out->d = Fp32ToFp16(max_scale / 63.f);
    out->dmin = Fp32ToFp16(max_min / 63.f);
  } else {
    // §5.4: weights from the importance vector and the super-block variance.
    float sw[8];
    float sum_x2 = 0;
    for (int l = 0; l < 256; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / 256;
    for (int j = 0; j < 8; ++j) {
      const float* xs = x + 32 * j;
      const float* q = qw + 32 * j;
      for (int l = 0; l < 32; ++l) weights[l] = q[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[l];
      sw[j] = sumw;
      scales[j] = MakeQkxQuants(32, nmax, xs, weights, out->L + 32 * j, &mins[j], laux, -0.9f,
                                0.05f, 36, /*strict_degenerate=*/false);
    }
    const float d_block = MakeQpQuants(8, 63, scales, ls, sw);
    const float m_block = MakeQpQuants(8, 63, mins, lm, sw);
    if (p.clamp_qp_levels) {
      for (int j = 0; j < 8; ++j) {
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
      }
    }
    PackScalesK4(ls, lm, out->scales);
    out->d = Fp32ToFp16(d_block);
    out->dmin = Fp32ToFp16(m_block);
  }

  // Final levels from the stored (rounded) scales. A sub-block whose scale
  // rounds to zero keeps the levels of its first fit (spec §5.3 step 7, §14.3).
  const float d_all = Fp16ToFp32(out->d);
  const float dmin_all = Fp16ToFp32(out->dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, out->scales, &sc, &m);
    const float d = d_all * sc;
    if (!d) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = NearestInt((x[32 * j + ii] + dm) / d);
      out->L[32 * j + ii] = static_cast<uint8_t>(ClampInt(l, 0, nmax));
    }
  }
}

}  // namespace sov::quant_internal
