// Causal / sliding-window GQA attention over a ring-buffer KV cache, per
// Highway target.
//
// Work decomposition. The visible keys of query t are [k_lo(t), q(t)] with
// q(t) = pos0 + t and k_lo = max(0, q - W + 1) on sliding layers (0 on full
// layers), so a sliding layer costs O(T * W). Key positions are cut into
// chunks of kKeyChunk aligned to absolute positions. A "row" is one (query,
// head) pair; the G = nq/nkv heads sharing a KV head, and up to kQueryBlock
// consecutive queries, are processed together so each K/V row loaded from
// the cache serves up to G * kQueryBlock rows. Per chunk:
//   S = Q K^T with the MatMul register tiles (4 keys x 4 rows),
//   per row: m = max over its visible keys, p = exp(s - m) (0 for keys it
//   cannot see), l = sum p in key order,
//   A = P V with register tiles (4 rows x 4 vectors of channels),
// and each row's chunk states are merged in chunk order with the
// online-softmax rule
//   M = max(m, m_c);  l = l e^(m-M) + l_c e^(m_c-M);  A = A e^(m-M) + A_c e^(m_c-M)
// before out = A / l.
//
// Determinism: every per-row operation above is independent of which other
// rows share the tile (dot products have a fixed order, masked keys add exact
// zeros), chunk boundaries depend only on positions and the merge order is
// fixed. So the result is the same whether a query runs in a block (prefill),
// alone with its chunks spread over threads (decode), or on any thread count.
// (The one requirement: cache rows at visible positions hold finite values,
// as 0 * inf would not be zero.)
//
// Assumptions: q, out, and the caches do not alias; no alignment required.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/api.h"
#include "kernels/parallel.h"

#if defined(SOV_KERNELS_CPU_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_ATTENTION_INL_H_
#undef SOV_KERNELS_CPU_ATTENTION_INL_H_
#else
#define SOV_KERNELS_CPU_ATTENTION_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline constexpr int64_t kKeyChunk = 256;
// Row stride of the score buffer: a chunk plus a vector of padding.
inline constexpr int64_t kScoreStride = kKeyChunk + 64;

// Softmax state of a set of rows: running max, sum of exp, sum of p v.
struct AttnState {
  float* m;    // [rows]
  float* l;    // [rows]
  float* acc;  // [rows, d]
};

inline constexpr int64_t kQueryBlock = 8;

inline int64_t FirstKey(const AttentionParams& p, int64_t qpos) {
  return p.window > 0 ? std::max<int64_t>(0, qpos - p.window + 1) : 0;
}

// acc[g, i0 .. i0 + NV*N) = sum_j p[g, j] v_j[i0 ..] for NG heads from g0,
// all accumulators in registers.
template <size_t NG, size_t NV>
HWY_INLINE void PVTile(const float* HWY_RESTRICT scores, int64_t n, int64_t g0,
                       const float* const* vrows, int64_t i0, int64_t d, float* HWY_RESTRICT acc) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  hn::Vec<decltype(df)> a[NG][NV];
  for (size_t g = 0; g < NG; ++g) {
    for (size_t v = 0; v < NV; ++v) a[g][v] = hn::Zero(df);
  }
  for (int64_t j = 0; j < n; ++j) {
    hn::Vec<decltype(df)> vv[NV];
    for (size_t v = 0; v < NV; ++v) vv[v] = hn::LoadU(df, vrows[j] + i0 + v * N);
    for (size_t g = 0; g < NG; ++g) {
      const auto pb = hn::Set(df, scores[(g0 + static_cast<int64_t>(g)) * kScoreStride + j]);
      for (size_t v = 0; v < NV; ++v) a[g][v] = hn::MulAdd(pb, vv[v], a[g][v]);
    }
  }
  for (size_t g = 0; g < NG; ++g) {
    for (size_t v = 0; v < NV; ++v) {
      hn::StoreU(a[g][v], df, acc + (g0 + static_cast<int64_t>(g)) * d + i0 + v * N);
    }
  }
}

template <size_t NV>
HWY_INLINE void PVColumns(const float* scores, int64_t n, int64_t G, const float* const* vrows,
                          int64_t i0, int64_t d, float* acc) {
  int64_t g = 0;
  for (; g + 4 <= G; g += 4) PVTile<4, NV>(scores, n, g, vrows, i0, d, acc);
  for (; g < G; ++g) PVTile<1, NV>(scores, n, g, vrows, i0, d, acc);
}

// Chunk c for queries t0 .. t0 + B - 1 (all G heads of KV head kvh): fills
// st.m / st.l / st.acc for the B*G rows (row = t_local * G + g) and
// lo[t_local] / hi[t_local], the visible key range of each query inside the
// chunk (empty when lo >= hi; such rows must be ignored). `scores` holds
// B * G * kScoreStride floats.
inline void ChunkRows(const AttentionParams& p, const float* q, int64_t ldq, int64_t t0, int64_t B,
                      int64_t kvh, int64_t c, float* HWY_RESTRICT scores, AttnState st,
                      int64_t* lo, int64_t* hi) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads;
  const int64_t cs = c * kKeyChunk;
  // Union of the queries' visible ranges within the chunk; k_lo and q grow
  // with t, so it runs from the first query's start to the last query's end.
  const int64_t u0 = std::max(FirstKey(p, p.pos0 + t0), cs);
  const int64_t u1 = std::min(p.pos0 + t0 + B, cs + kKeyChunk);
  const int64_t n = u1 - u0;  // > 0 by construction of the chunk loop
  for (int64_t t = 0; t < B; ++t) {
    const int64_t qp = p.pos0 + t0 + t;
    lo[t] = std::clamp<int64_t>(FirstKey(p, qp) - u0, 0, n);
    hi[t] = std::clamp<int64_t>(qp + 1 - u0, 0, n);
  }
  auto key_row = [&](const float* cache, int64_t kp) {
    return cache + (kp % p.cache_rows) * p.ld_kv + kvh * d;
  };
  // S = Q K^T over the union, 4 keys per tile, G heads of one query per call.
  for (int64_t t = 0; t < B; ++t) {
    const float* qg = q + (t0 + t) * ldq + kvh * G * d;
    float* srow = scores + t * G * kScoreStride;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* rows[4] = {key_row(p.k_cache, u0 + j), key_row(p.k_cache, u0 + j + 1),
                              key_row(p.k_cache, u0 + j + 2), key_row(p.k_cache, u0 + j + 3)};
      MatMulRows<4>(qg, d, 0, G, rows, d, srow + j, kScoreStride);
    }
    for (; j < n; ++j) {
      const float* row = key_row(p.k_cache, u0 + j);
      MatMulRows<1>(qg, d, 0, G, &row, d, srow + j, kScoreStride);
    }
  }
  const int64_t n_pad = (n + N - 1) / N * N;  // <= kScoreStride
  for (int64_t t = 0; t < B; ++t) {
    for (int64_t g = 0; g < G; ++g) {
      const int64_t r = t * G + g;
      float* s = scores + r * kScoreStride;
      float m = -INFINITY;
      for (int64_t i = lo[t]; i < hi[t]; ++i) m = std::max(m, s[i] *= p.scale);
      if (lo[t] >= hi[t]) m = 0.0f;  // row ignored; keep the arithmetic finite
      for (int64_t i = 0; i < lo[t]; ++i) s[i] = m;
      for (int64_t i = hi[t]; i < n_pad; ++i) s[i] = m;
      const auto vm = hn::Set(df, m);
      for (int64_t i = 0; i < n_pad; i += N) {
        hn::StoreU(hn::Exp(df, hn::Sub(hn::LoadU(df, s + i), vm)), df, s + i);
      }
      // Keys this row cannot see contribute exactly zero.
      for (int64_t i = 0; i < lo[t]; ++i) s[i] = 0.0f;
      for (int64_t i = hi[t]; i < n; ++i) s[i] = 0.0f;
      float l = 0.0f;
      for (int64_t i = lo[t]; i < hi[t]; ++i) l += s[i];
      st.m[r] = m;
      st.l[r] = l;
    }
  }
  // A = P V over the union, register-tiled.
  const float* vrows[kKeyChunk];
  for (int64_t j = 0; j < n; ++j) vrows[j] = key_row(p.v_cache, u0 + j);
  const int64_t R = B * G;
  float* acc = st.acc;
  int64_t i = 0;
  for (; i + 4 * N <= d; i += 4 * N) PVColumns<4>(scores, n, R, vrows, i, d, acc);
  for (; i + N <= d; i += N) PVColumns<1>(scores, n, R, vrows, i, d, acc);
  for (; i < d; ++i) {
    for (int64_t r = 0; r < R; ++r) {
      float a = 0.0f;
      for (int64_t j = 0; j < n; ++j) a += scores[r * kScoreStride + j] * vrows[j][i];
      acc[r * d + i] = a;
    }
  }
}

// Rows [r0, r0 + R): run = c (first chunk) or merge(run, c).
inline void MergeRows(int64_t r0, int64_t R, int64_t d, bool first, AttnState run,
                      const AttnState& c) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t r = r0; r < r0 + R; ++r) {
    float* ra = run.acc + r * d;
    const float* ca = c.acc + r * d;
    if (first) {
      run.m[r] = c.m[r];
      run.l[r] = c.l[r];
      std::copy(ca, ca + d, ra);
      continue;
    }
    const float M = std::max(run.m[r], c.m[r]);
    const float a = std::exp(run.m[r] - M), b = std::exp(c.m[r] - M);
    run.m[r] = M;
    run.l[r] = run.l[r] * a + c.l[r] * b;
    const auto va = hn::Set(df, a), vb = hn::Set(df, b);
    int64_t i = 0;
    for (; i + N <= d; i += N) {
      hn::StoreU(hn::MulAdd(hn::LoadU(df, ca + i), vb, hn::Mul(hn::LoadU(df, ra + i), va)), df,
                 ra + i);
    }
    for (; i < d; ++i) ra[i] = ra[i] * a + ca[i] * b;
  }
}

inline void WriteRows(int64_t R, int64_t d, const AttnState& st, float* out) {
  for (int64_t r = 0; r < R; ++r) {
    const float inv = 1.0f / st.l[r];
    for (int64_t i = 0; i < d; ++i) out[r * d + i] = st.acc[r * d + i] * inv;
  }
}

// Buffers for B*G rows.
struct AttnScratch {
  std::vector<float> scores, m, l, acc;
  void Resize(int64_t rows, int64_t d) {
    scores.resize(static_cast<size_t>(rows * kScoreStride));
    m.resize(static_cast<size_t>(rows));
    l.resize(static_cast<size_t>(rows));
    acc.resize(static_cast<size_t>(rows * d));
  }
  AttnState state() { return {m.data(), l.data(), acc.data()}; }
};

inline void AttentionImpl(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                          int64_t ldo) {
  const int64_t G = p.n_q_heads / p.n_kv_heads, d = p.head_dim;
  auto first_chunk = [&](int64_t t) { return FirstKey(p, p.pos0 + t) / kKeyChunk; };
  auto last_chunk = [&](int64_t t) { return (p.pos0 + t) / kKeyChunk; };
  const int64_t n_blocks = (p.T + kQueryBlock - 1) / kQueryBlock;

  if (n_blocks * p.n_kv_heads >= 4) {
    // Prefill: a unit is (block of queries, KV head); its chunks run in order.
    ParallelFor(n_blocks * p.n_kv_heads, 1, [&](int64_t u0, int64_t u1) {
      thread_local AttnScratch chunk, run;
      chunk.Resize(kQueryBlock * G, d);
      run.Resize(kQueryBlock * G, d);
      int64_t lo[kQueryBlock], hi[kQueryBlock], seen[kQueryBlock];
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t t0 = (u / p.n_kv_heads) * kQueryBlock, kvh = u % p.n_kv_heads;
        const int64_t B = std::min(kQueryBlock, p.T - t0);
        std::fill(seen, seen + B, 0);
        for (int64_t c = first_chunk(t0); c <= last_chunk(t0 + B - 1); ++c) {
          ChunkRows(p, q, ldq, t0, B, kvh, c, chunk.scores.data(), chunk.state(), lo, hi);
          for (int64_t t = 0; t < B; ++t) {
            if (lo[t] >= hi[t]) continue;
            MergeRows(t * G, G, d, seen[t]++ == 0, run.state(), chunk.state());
          }
        }
        for (int64_t t = 0; t < B; ++t) {
          const AttnState st = run.state();
          WriteRows(G, d, AttnState{st.m + t * G, st.l + t * G, st.acc + t * G * d},
                    out + (t0 + t) * ldo + kvh * G * d);
        }
      }
    });
    return;
  }

  // Decode (few queries): a unit is (query, KV head); its chunks are spread
  // over threads and merged afterwards in chunk order.
  const int64_t units = p.T * p.n_kv_heads;
  std::vector<int64_t> first(static_cast<size_t>(units + 1), 0);
  for (int64_t u = 0; u < units; ++u) {
    const int64_t t = u / p.n_kv_heads;
    first[u + 1] = first[u] + last_chunk(t) - first_chunk(t) + 1;
  }
  const int64_t total = first[units];
  const int64_t state_floats = G * (d + 2);
  // Local, not thread_local: this thread may run other tasks (even another
  // Attention) while it waits in ParallelFor below.
  std::vector<float> states(static_cast<size_t>(total * state_floats));
  auto state_at = [&](int64_t i) {
    float* base = states.data() + i * state_floats;
    return AttnState{base, base + G, base + 2 * G};
  };
  ParallelFor(total, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(G * kScoreStride));
    int64_t lo[1], hi[1];
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t u = std::upper_bound(first.begin(), first.end(), i) - first.begin() - 1;
      const int64_t t = u / p.n_kv_heads;
      ChunkRows(p, q, ldq, t, 1, u % p.n_kv_heads, first_chunk(t) + (i - first[u]),
                scores.data(), state_at(i), lo, hi);
    }
  });
  for (int64_t u = 0; u < units; ++u) {
    const AttnState run = state_at(first[u]);
    for (int64_t i = first[u] + 1; i < first[u + 1]; ++i) {
      MergeRows(0, G, d, false, run, state_at(i));
    }
    const int64_t t = u / p.n_kv_heads, kvh = u % p.n_kv_heads;
    WriteRows(G, d, run, out + t * ldo + kvh * G * d);
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
