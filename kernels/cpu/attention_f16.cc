// AttentionF16 / KvAppendF16 (kernels/api.h): attention over an fp16 KV cache
// with llama.cpp's rounding points, per Highway target.
//
// Prefill: units of up to 8 consecutive queries and one KV head, each run by
// one task: K rows widened to f32 once and dotted with every query row of the
// block, softmax per row over its own visible keys (p = 0 elsewhere), then
// P V in 4N-channel slices with keys widened once per 256-key chunk.
// Decode (few queries): the same arithmetic in three parallel phases (scores
// over key chunks, softmax per row, P V over channel slices).
// Every (query, head) result goes through the same Dot / SoftmaxRowF16 /
// PVAccumulate sequence in key order on both paths (a key outside a query's
// range adds fma(0, v, acc) == acc), so results do not depend on T, the
// blocking or the thread count, and prefill rows equal decode steps bitwise.
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
#include "kernels/cpu/attention_check.h"
#include "kernels/cpu/f16-inl.h"
#include "kernels/cpu/matmul-inl.h"  // LoadWeights(float16)
#include "kernels/parallel.h"

#ifndef SOV_KERNELS_CPU_ATTENTION_F16_ONCE_
#define SOV_KERNELS_CPU_ATTENTION_F16_ONCE_
namespace sov::kernels::attn_f16 {

inline constexpr int64_t kChunk = 256;                   // key positions per score task

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

// Shared arithmetic: both the decode path and the blocked prefill path call
// these, so one (query, head) gets the same bits whichever path runs it.

// q . k over d floats: lane-wise MulAdd, SumOfLanes, fma tail.
HWY_INLINE float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t d) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= d; i += N) acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float dot = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < d; ++i) dot = std::fma(a[i], b[i], dot);
  return dot;
}

// Four Dot(a, b_k) at once, sharing the loads of a; each result has exactly
// Dot's operation sequence.
HWY_INLINE void Dot4(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b0,
                     const float* HWY_RESTRICT b1, const float* HWY_RESTRICT b2,
                     const float* HWY_RESTRICT b3, int64_t d, float* HWY_RESTRICT out,
                     int64_t out_stride) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto c0 = hn::Zero(df), c1 = hn::Zero(df), c2 = hn::Zero(df), c3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= d; i += N) {
    const auto va = hn::LoadU(df, a + i);
    c0 = hn::MulAdd(va, hn::LoadU(df, b0 + i), c0);
    c1 = hn::MulAdd(va, hn::LoadU(df, b1 + i), c1);
    c2 = hn::MulAdd(va, hn::LoadU(df, b2 + i), c2);
    c3 = hn::MulAdd(va, hn::LoadU(df, b3 + i), c3);
  }
  float r0 = hn::GetLane(hn::SumOfLanes(df, c0)), r1 = hn::GetLane(hn::SumOfLanes(df, c1));
  float r2 = hn::GetLane(hn::SumOfLanes(df, c2)), r3 = hn::GetLane(hn::SumOfLanes(df, c3));
  for (; i < d; ++i) {
    r0 = std::fma(a[i], b0[i], r0);
    r1 = std::fma(a[i], b1[i], r1);
    r2 = std::fma(a[i], b2[i], r2);
    r3 = std::fma(a[i], b3[i], r3);
  }
  out[0] = r0;
  out[out_stride] = r1;
  out[2 * out_stride] = r2;
  out[3 * out_stride] = r3;
}

// Scores of `rows` query rows (q16, d floats each) against keys k0 .. k0 + n
// - 1 of the cache: s[r * sstride + (j - k0)], four keys per pass (Dot4) and
// Dot for the rest; kbuf holds 4 * d floats.
HWY_INLINE void ScoreRows(const AttentionParams& p, int64_t kvh, const float* q16, int64_t rows,
                          int64_t k0, int64_t n, float* kbuf, float* s, int64_t sstride);

// Exact fp16 -> f32 widening of n values.
HWY_INLINE void Widen(const uint16_t* HWY_RESTRICT src, int64_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto* h = reinterpret_cast<const hwy::float16_t*>(src);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadWeights(df, h + i), df, dst + i);
  for (; i < n; ++i) dst[i] = Fp16ToFp32(src[i]);
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
  RoundRowToF16(s, n, static_cast<float>(1.0 / sum), s);
}

// acc[r][0 .. 4N) += sum_j probs[r][j] * v[j][0 .. 4N) for NR rows, keys in
// order; v rows are `vstride` floats apart, probs rows `pstride` apart.
inline constexpr int64_t kSliceVecs = 4;  // channels per slice: kSliceVecs vectors

template <size_t NR>
HWY_INLINE void PVAccumulate(const float* HWY_RESTRICT probs, int64_t pstride,
                             const float* HWY_RESTRICT v, int64_t vstride, int64_t n,
                             float* HWY_RESTRICT acc, int64_t astride) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  hn::Vec<decltype(df)> a[NR][kSliceVecs];
  for (size_t r = 0; r < NR; ++r)
    for (size_t k = 0; k < kSliceVecs; ++k) a[r][k] = hn::LoadU(df, acc + r * astride + k * N);
  for (int64_t j = 0; j < n; ++j) {
    hn::Vec<decltype(df)> vv[kSliceVecs];
    for (size_t k = 0; k < kSliceVecs; ++k) vv[k] = hn::LoadU(df, v + j * vstride + k * N);
    for (size_t r = 0; r < NR; ++r) {
      const auto pb = hn::Set(df, probs[r * pstride + j]);
      for (size_t k = 0; k < kSliceVecs; ++k) a[r][k] = hn::MulAdd(pb, vv[k], a[r][k]);
    }
  }
  for (size_t r = 0; r < NR; ++r)
    for (size_t k = 0; k < kSliceVecs; ++k) hn::StoreU(a[r][k], df, acc + r * astride + k * N);
}

inline const uint16_t* CacheRow(const AttentionParams& p, const uint16_t* cache, int64_t pos,
                                int64_t kvh) {
  return cache + (pos % p.cache_rows) * p.ld_kv + kvh * p.head_dim;
}

HWY_INLINE void ScoreRows(const AttentionParams& p, int64_t kvh, const float* q16, int64_t rows,
                          int64_t k0, int64_t n, float* kbuf, float* s, int64_t sstride) {
  const int64_t d = p.head_dim;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    for (int64_t k = 0; k < 4; ++k) Widen(CacheRow(p, p.k_cache_f16, k0 + j + k, kvh), d, kbuf + k * d);
    for (int64_t r = 0; r < rows; ++r) {
      Dot4(q16 + r * d, kbuf, kbuf + d, kbuf + 2 * d, kbuf + 3 * d, d, s + r * sstride + j, 1);
    }
  }
  for (; j < n; ++j) {
    Widen(CacheRow(p, p.k_cache_f16, k0 + j, kvh), d, kbuf);
    for (int64_t r = 0; r < rows; ++r) s[r * sstride + j] = Dot(q16 + r * d, kbuf, d);
  }
}

// out_rows[r][0 .. d) = probs (R x n, keys k0 .. k0 + n - 1) times V, in
// slices of 4N channels, keys in chunks of kChunk widened once per chunk and
// slice for all R rows.
inline void PVRows(const AttentionParams& p, int64_t kvh, int64_t k0, int64_t n,
                   const float* probs, int64_t pstride, int64_t R, float* const* out_rows) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d = p.head_dim, S = kSliceVecs * N;
  thread_local std::vector<float> vbuf, acc;
  vbuf.resize(static_cast<size_t>(kChunk * S));
  acc.resize(static_cast<size_t>(R * S));
  for (int64_t i0 = 0; i0 + S <= d; i0 += S) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const int64_t cn = std::min(kChunk, n - c0);
      for (int64_t j = 0; j < cn; ++j) {
        Widen(CacheRow(p, p.v_cache_f16, k0 + c0 + j, kvh) + i0, S, vbuf.data() + j * S);
      }
      int64_t r = 0;
      for (; r + 4 <= R; r += 4)
        PVAccumulate<4>(probs + r * pstride + c0, pstride, vbuf.data(), S, cn, acc.data() + r * S, S);
      for (; r < R; ++r)
        PVAccumulate<1>(probs + r * pstride + c0, pstride, vbuf.data(), S, cn, acc.data() + r * S, S);
    }
    for (int64_t r = 0; r < R; ++r) {
      std::copy(acc.data() + r * S, acc.data() + (r + 1) * S, out_rows[r] + i0);
    }
  }
  for (int64_t i = d - d % S; i < d; ++i) {
    for (int64_t r = 0; r < R; ++r) {
      float a = 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        a = std::fma(probs[r * pstride + j],
                     Fp16ToFp32(CacheRow(p, p.v_cache_f16, k0 + j, kvh)[i]), a);
      }
      out_rows[r][i] = a;
    }
  }
}

// Prefill: a unit is (block of up to kQueryBlock queries, KV head), run whole
// by one task over the union of its queries' key ranges. A key outside one
// query's range gets probability exactly 0, and fma(0, v, acc) == acc, so
// every row equals what the decode path computes for that query alone.
inline constexpr int64_t kQueryBlock = 8;

inline void BlockUnit(const AttentionParams& p, const float* q, int64_t ldq, int64_t t0,
                      int64_t B, int64_t kvh, float* out, int64_t ldo) {
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads, R = B * G;
  auto first_key = [&](int64_t qp) {
    return p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
  };
  const int64_t k0 = first_key(p.pos0 + t0);
  const int64_t n = p.pos0 + t0 + B - k0;
  thread_local std::vector<float> q16, kbuf, scores;
  q16.resize(static_cast<size_t>(R * d));
  kbuf.resize(static_cast<size_t>(4 * d));
  scores.resize(static_cast<size_t>(R * n));
  for (int64_t t = 0; t < B; ++t) {
    RoundRowToF16(q + (t0 + t) * ldq + kvh * G * d, G * d, p.scale, q16.data() + t * G * d);
  }
  ScoreRows(p, kvh, q16.data(), R, k0, n, kbuf.data(), scores.data(), n);
  for (int64_t t = 0; t < B; ++t) {
    const int64_t qp = p.pos0 + t0 + t;
    const int64_t lo = first_key(qp) - k0, hi = qp - k0 + 1;
    for (int64_t g = 0; g < G; ++g) {
      float* s = scores.data() + (t * G + g) * n;
      SoftmaxRowF16(s + lo, hi - lo);
      std::fill(s, s + lo, 0.0f);
      std::fill(s + hi, s + n, 0.0f);
    }
  }
  // Output row t*G + g lives at out + (t0 + t) * ldo + (kvh * G + g) * d.
  thread_local std::vector<float*> rows;
  rows.resize(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) rows[r] = out + (t0 + r / G) * ldo + (kvh * G + r % G) * d;
  PVRows(p, kvh, k0, n, scores.data(), n, R, rows.data());
}

void AttentionF16Impl(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                      int64_t ldo) {
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads;
  const int64_t n_blocks = (p.T + kQueryBlock - 1) / kQueryBlock;
  if (n_blocks * p.n_kv_heads >= 4) {
    ParallelFor(n_blocks * p.n_kv_heads, 1, [&](int64_t a, int64_t b) {
      for (int64_t u = a; u < b; ++u) {
        const int64_t t0 = (u / p.n_kv_heads) * kQueryBlock;
        BlockUnit(p, q, ldq, t0, std::min(kQueryBlock, p.T - t0), u % p.n_kv_heads, out, ldo);
      }
    });
    return;
  }

  // Decode (few queries): a unit is (query, KV head); scores over key chunks,
  // softmax per row and P V over channel slices each spread over threads.
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t S = kSliceVecs * N;
  std::vector<Unit> units;
  int64_t floats = 0;
  for (int64_t i = 0; i < p.T * p.n_kv_heads; ++i) {
    Unit u;
    u.t = i / p.n_kv_heads;
    u.kvh = i % p.n_kv_heads;
    const int64_t qp = p.pos0 + u.t;
    u.k_lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
    u.n = qp - u.k_lo + 1;
    u.off = floats;
    floats += G * u.n;
    units.push_back(u);
  }
  std::vector<float> scores(static_cast<size_t>(floats));
  std::vector<int64_t> first(units.size() + 1, 0);
  for (size_t i = 0; i < units.size(); ++i) {
    const Unit& u = units[i];
    first[i + 1] = first[i] + (u.k_lo + u.n - 1) / kChunk - u.k_lo / kChunk + 1;
  }
  std::vector<float> q16(units.size() * static_cast<size_t>(G * d));
  for (size_t i = 0; i < units.size(); ++i) {
    RoundRowToF16(q + units[i].t * ldq + units[i].kvh * G * d, G * d, p.scale, q16.data() + i * G * d);
  }
  ParallelFor(first.back(), 1, [&](int64_t a, int64_t b) {
    thread_local std::vector<float> kbuf;
    kbuf.resize(static_cast<size_t>(4 * d));
    for (int64_t task = a; task < b; ++task) {
      const size_t ui = std::upper_bound(first.begin(), first.end(), task) - first.begin() - 1;
      const Unit& u = units[ui];
      const int64_t c = u.k_lo / kChunk + (task - first[ui]);
      const int64_t j0 = std::max(u.k_lo, c * kChunk);
      const int64_t j1 = std::min(u.k_lo + u.n, (c + 1) * kChunk);
      ScoreRows(p, u.kvh, q16.data() + ui * G * d, G, j0, j1 - j0, kbuf.data(),
                scores.data() + u.off + (j0 - u.k_lo), u.n);
    }
  });
  // Short contexts: one task per phase (a oneTBB launch costs more than the work).
  const bool small = floats * d < (int64_t{1} << 20);
  ParallelFor(static_cast<int64_t>(units.size()) * G, small ? int64_t{1} << 30 : 4,
              [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) {
      const Unit& u = units[r / G];
      SoftmaxRowF16(scores.data() + u.off + (r % G) * u.n, u.n);
    }
  });
  // P V: tasks (unit, 4N-channel slice); PVRows on a one-slice view of the head.
  const int64_t n_slices = (d + S - 1) / S;
  ParallelFor(static_cast<int64_t>(units.size()) * n_slices, small ? int64_t{1} << 30 : 1,
              [&](int64_t a, int64_t b) {
    for (int64_t task = a; task < b; ++task) {
      const Unit& u = units[task / n_slices];
      const int64_t i0 = (task % n_slices) * S;
      AttentionParams ps = p;
      ps.head_dim = std::min(S, d - i0);
      // Shift the cache base so channel i0 of this head is channel 0 of the view.
      ps.v_cache_f16 = p.v_cache_f16 + i0 + u.kvh * d - u.kvh * ps.head_dim;
      float* rows[64];
      SOV_CHECK(G <= 64) << "AttentionF16: more than 64 query heads per KV head";
      for (int64_t g = 0; g < G; ++g) rows[g] = out + u.t * ldo + (u.kvh * G + g) * d + i0;
      PVRows(ps, u.kvh, u.k_lo, u.n, scores.data() + u.off, u.n, G, rows);
    }
  });
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(AttentionF16Impl);

void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  SOV_CHECK(p.k_cache_f16 != nullptr && p.v_cache_f16 != nullptr)
      << "AttentionF16: the fp16 cache pointers are not set";
  internal::CheckAttentionGeometry("AttentionF16", p, ldq, ldo);
  if (p.T == 0) return;
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
