// AttentionF16 / KvAppendF16 (kernels/api.h): attention over an fp16 KV cache
// with llama.cpp's rounding points, per Highway target.
//
// A "unit" is one (query, KV head) pair; its visible keys are [k_lo, q]. Units
// are processed in groups whose score buffers fit a fixed budget; per group:
//   1. scores: tasks (unit, chunk of kChunk key positions) compute
//      s[g][j] = q16_g . k16_j for the G query heads of the unit, each dot in
//      a fixed lane order;
//   2. softmax: per (unit, head) max, exp, a double sum in key order,
//      p = f16(e * f32(1/S)) stored back as float;
//   3. P V: tasks (unit, slice of head channels) accumulate
//      out[g][slice] = sum_j p[g][j] v16_j[slice] in key order.
// Every number depends only on the unit's own data and on positions, never on
// the grouping or the thread count, so prefill rows equal decode steps bitwise.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "quant/float16.h"
#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention_f16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/api.h"
#include "kernels/cpu/matmul-inl.h"  // LoadWeights(float16)
#include "kernels/parallel.h"

#ifndef SOV_KERNELS_CPU_ATTENTION_F16_ONCE_
#define SOV_KERNELS_CPU_ATTENTION_F16_ONCE_
namespace sov::kernels::attn_f16 {

inline constexpr int64_t kChunk = 256;                   // key positions per score task
inline constexpr int64_t kScoreBudget = int64_t{1} << 21;  // floats of scores per group

struct Unit {
  int64_t t = 0, kvh = 0;
  int64_t k_lo = 0, n = 0;  // visible keys [k_lo, k_lo + n)
  int64_t off = 0;          // start of its G x n scores in the group buffer
};

}  // namespace sov::kernels::attn_f16
#endif

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using attn_f16::kChunk;
using attn_f16::Unit;

// s[g * n + (j - u.k_lo)] for keys j in [j0, j1) of unit u; q16 holds the
// unit's G rounded query rows (d floats each).
HWY_INLINE void ScoreKeys(const AttentionParams& p, const Unit& u, const float* q16, int64_t j0,
                          int64_t j1, float* s) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads;
  for (int64_t j = j0; j < j1; ++j) {
    const auto* k = reinterpret_cast<const hwy::float16_t*>(
        p.k_cache_f16 + (j % p.cache_rows) * p.ld_kv + u.kvh * d);
    for (int64_t g = 0; g < G; ++g) {
      const float* qg = q16 + g * d;
      auto acc = hn::Zero(df);
      int64_t i = 0;
      for (; i + N <= d; i += N) acc = hn::MulAdd(hn::LoadU(df, qg + i), LoadWeights(df, k + i), acc);
      float dot = hn::GetLane(hn::SumOfLanes(df, acc));
      for (; i < d; ++i) dot += qg[i] * F16ToF32(k[i].bits);
      s[g * u.n + (j - u.k_lo)] = dot;
    }
  }
}

// p = f16(exp(s - max) * f32(1 / sum)) over one row of n scores, in place.
HWY_INLINE void SoftmaxRowF16(float* s, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  float m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
  const auto vm = hn::Set(df, m);
  int64_t j = 0;
  for (; j + N <= n; j += N) hn::StoreU(hn::Exp(df, hn::Sub(hn::LoadU(df, s + j), vm)), df, s + j);
  for (; j < n; ++j) s[j] = std::exp(s[j] - m);
  double sum = 0.0;
  for (j = 0; j < n; ++j) sum += s[j];
  const float inv = static_cast<float>(1.0 / sum);
  for (j = 0; j < n; ++j) s[j] = Fp16ToFp32(Fp32ToFp16(s[j] * inv));
}

// out[g][i0 .. i0 + NV*N) = sum_j p[g][j] v16_j[...] for all G heads, NG at a time.
template <size_t NG, size_t NV>
HWY_INLINE void PVSlice(const AttentionParams& p, const Unit& u, const float* probs, int64_t g0,
                        int64_t i0, float* out_row, int64_t d) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  hn::Vec<decltype(df)> a[NG][NV];
  for (size_t g = 0; g < NG; ++g)
    for (size_t v = 0; v < NV; ++v) a[g][v] = hn::Zero(df);
  for (int64_t j = 0; j < u.n; ++j) {
    const auto* vr = reinterpret_cast<const hwy::float16_t*>(
        p.v_cache_f16 + ((u.k_lo + j) % p.cache_rows) * p.ld_kv + u.kvh * d + i0);
    hn::Vec<decltype(df)> vv[NV];
    for (size_t v = 0; v < NV; ++v) vv[v] = LoadWeights(df, vr + v * N);
    for (size_t g = 0; g < NG; ++g) {
      const auto pb = hn::Set(df, probs[(g0 + static_cast<int64_t>(g)) * u.n + j]);
      for (size_t v = 0; v < NV; ++v) a[g][v] = hn::MulAdd(pb, vv[v], a[g][v]);
    }
  }
  for (size_t g = 0; g < NG; ++g)
    for (size_t v = 0; v < NV; ++v)
      hn::StoreU(a[g][v], df, out_row + (g0 + static_cast<int64_t>(g)) * d + i0 + v * N);
}

template <size_t NV>
HWY_INLINE void PVHeads(const AttentionParams& p, const Unit& u, const float* probs, int64_t G,
                        int64_t i0, float* out_row, int64_t d) {
  int64_t g = 0;
  for (; g + 4 <= G; g += 4) PVSlice<4, NV>(p, u, probs, g, i0, out_row, d);
  for (; g < G; ++g) PVSlice<1, NV>(p, u, probs, g, i0, out_row, d);
}

void AttentionF16Impl(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                      int64_t ldo) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads;
  const int64_t slice = 2 * N;  // channels per P V task
  const int64_t n_slices = (d + slice - 1) / slice;

  std::vector<Unit> units;
  std::vector<float> scores;
  int64_t next = 0;  // first unit (t * n_kv_heads + kvh) not yet processed
  const int64_t total_units = p.T * p.n_kv_heads;
  while (next < total_units) {
    // A group: units from `next` while the scores fit the budget (always >= 1).
    units.clear();
    int64_t floats = 0;
    for (; next < total_units; ++next) {
      Unit u;
      u.t = next / p.n_kv_heads;
      u.kvh = next % p.n_kv_heads;
      const int64_t qp = p.pos0 + u.t;
      u.k_lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
      u.n = qp - u.k_lo + 1;
      if (!units.empty() && floats + G * u.n > attn_f16::kScoreBudget) break;
      u.off = floats;
      floats += G * u.n;
      units.push_back(u);
    }
    scores.resize(static_cast<size_t>(floats));

    // 1. Scores: (unit, chunk aligned to absolute positions) tasks.
    std::vector<int64_t> first(units.size() + 1, 0);
    for (size_t i = 0; i < units.size(); ++i) {
      const Unit& u = units[i];
      first[i + 1] = first[i] + (u.k_lo + u.n - 1) / kChunk - u.k_lo / kChunk + 1;
    }
    ParallelFor(first.back(), 1, [&](int64_t a, int64_t b) {
      thread_local std::vector<float> q16;
      q16.resize(static_cast<size_t>(G * d));
      int64_t loaded = -1;
      for (int64_t task = a; task < b; ++task) {
        const size_t ui = std::upper_bound(first.begin(), first.end(), task) - first.begin() - 1;
        const Unit& u = units[ui];
        if (loaded != static_cast<int64_t>(ui)) {
          const float* qrow = q + u.t * ldq + u.kvh * G * d;
          for (int64_t i = 0; i < G * d; ++i) q16[i] = Fp16ToFp32(Fp32ToFp16(qrow[i] * p.scale));
          loaded = static_cast<int64_t>(ui);
        }
        const int64_t c = u.k_lo / kChunk + (task - first[ui]);
        const int64_t j0 = std::max(u.k_lo, c * kChunk);
        const int64_t j1 = std::min(u.k_lo + u.n, (c + 1) * kChunk);
        ScoreKeys(p, u, q16.data(), j0, j1, scores.data() + u.off);
      }
    });
    // 2. Softmax per (unit, head).
    const int64_t rows = static_cast<int64_t>(units.size()) * G;
    ParallelFor(rows, 4, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) {
        const Unit& u = units[r / G];
        SoftmaxRowF16(scores.data() + u.off + (r % G) * u.n, u.n);
      }
    });
    // 3. P V: (unit, channel slice) tasks; every head of the unit at once.
    ParallelFor(static_cast<int64_t>(units.size()) * n_slices, 1, [&](int64_t a, int64_t b) {
      for (int64_t task = a; task < b; ++task) {
        const Unit& u = units[task / n_slices];
        const int64_t i0 = (task % n_slices) * slice;
        const float* probs = scores.data() + u.off;
        float* orow = out + u.t * ldo + u.kvh * G * d;  // G heads, d apart
        if (i0 + slice <= d) {
          PVHeads<2>(p, u, probs, G, i0, orow, d);
        } else {
          // Tail channels: scalar, same key order.
          for (int64_t g = 0; g < G; ++g) {
            for (int64_t i = i0; i < d; ++i) {
              float acc = 0.0f;
              for (int64_t j = 0; j < u.n; ++j) {
                const uint16_t v =
                    p.v_cache_f16[((u.k_lo + j) % p.cache_rows) * p.ld_kv + u.kvh * d + i];
                acc += probs[g * u.n + j] * Fp16ToFp32(v);
              }
              orow[g * d + i] = acc;
            }
          }
        }
      }
    });
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(AttentionF16Impl);

void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  SOV_CHECK(p.k_cache_f16 != nullptr && p.v_cache_f16 != nullptr)
      << "AttentionF16: the fp16 cache pointers are not set";
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << "AttentionF16: n_q_heads " << p.n_q_heads << " is not a multiple of n_kv_heads "
      << p.n_kv_heads;
  SOV_CHECK(p.head_dim > 0 && p.T >= 0 && p.pos0 >= 0 && p.window >= 0)
      << "AttentionF16: bad geometry (head_dim " << p.head_dim << ", T " << p.T << ", pos0 "
      << p.pos0 << ", window " << p.window << ")";
  SOV_CHECK(ldq >= p.n_q_heads * p.head_dim && ldo >= p.n_q_heads * p.head_dim &&
            p.ld_kv >= p.n_kv_heads * p.head_dim)
      << "AttentionF16: a row stride is smaller than its row";
  if (p.T == 0) return;
  const int64_t oldest = p.window > 0 ? std::max<int64_t>(0, p.pos0 - p.window + 1) : 0;
  SOV_CHECK(p.cache_rows >= p.pos0 + p.T - oldest)
      << "AttentionF16: cache_rows " << p.cache_rows << " cannot hold positions " << oldest
      << ".." << p.pos0 + p.T - 1;
  HWY_DYNAMIC_DISPATCH(AttentionF16Impl)(p, q, ldq, out, ldo);
}

void KvAppendF16(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
                 int64_t pos0, uint16_t* k_cache, uint16_t* v_cache, int64_t cache_rows,
                 int64_t ld_kv, int64_t row_width) {
  SOV_CHECK(cache_rows > 0 && row_width <= ld_kv && row_width <= ldk && row_width <= ldv)
      << "KvAppendF16: bad cache geometry";
  const int64_t t_begin = std::max<int64_t>(0, T - cache_rows);
  for (int64_t t = t_begin; t < T; ++t) {
    const int64_t r = (pos0 + t) % cache_rows;
    for (int64_t i = 0; i < row_width; ++i) {
      k_cache[r * ld_kv + i] = Fp32ToFp16(k_new[t * ldk + i]);
      v_cache[r * ld_kv + i] = Fp32ToFp16(v_new[t * ldv + i]);
    }
  }
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
