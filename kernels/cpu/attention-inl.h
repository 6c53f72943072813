// Causal / sliding-window GQA attention over a ring-buffer KV cache, per
// Highway target.
//
// Work decomposition. The visible keys of query t are [k_lo(t), q(t)] with
// q(t) = pos0 + t and k_lo = max(0, q - W + 1) on sliding layers (0 on full
// layers), so a sliding layer costs O(T * W). Those keys are cut into chunks
// of kKeyChunk positions starting at k_lo(t). For every chunk the G = nq/nkv
// query heads that share a KV head are processed together: scores
// S[G, chunk] = Q_group K_chunk^T with the MatMul register tiles (each key
// row is loaded once for 4 heads), then a chunk max, p = exp(s - max), the
// chunk's sum l and its accumulator A[G, d] = sum_j p_j v_j. Chunks are then
// merged with the online-softmax rule in chunk order:
//   M = max(m, m_c);  l = l e^(m-M) + l_c e^(m_c-M);  A = A e^(m-M) + A_c e^(m_c-M)
// and out = A / l.
//
// Determinism: chunk boundaries depend only on positions, and the merge
// order is fixed, so every output is the same sequence of operations whether
// the chunks of one query run on one thread (prefill: parallel over queries
// and KV heads) or on several (decode: few queries, so the chunks themselves
// are spread over threads and merged afterwards).
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

// Softmax state of G heads over one key chunk (or a merge of chunks).
struct AttnState {
  float* m;    // [G] running max
  float* l;    // [G] running sum of exp
  float* acc;  // [G, d] running sum of p v
};

inline int64_t FirstKey(const AttentionParams& p, int64_t qpos) {
  return p.window > 0 ? std::max<int64_t>(0, qpos - p.window + 1) : 0;
}

inline int64_t NumChunks(const AttentionParams& p, int64_t qpos) {
  return (qpos - FirstKey(p, qpos)) / kKeyChunk + 1;
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
      const auto pb = hn::Set(df, scores[(g0 + static_cast<int64_t>(g)) * kKeyChunk + j]);
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

// State of query heads [h0, h0 + G) at query t over keys [k0, k1) (one
// chunk). `scores` holds G * kKeyChunk floats.
inline void ChunkState(const AttentionParams& p, const float* q_group, int64_t G, int64_t kvh,
                       int64_t k0, int64_t k1, float* HWY_RESTRICT scores, AttnState st) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d = p.head_dim, n = k1 - k0;
  auto key_row = [&](const float* cache, int64_t kp) {
    return cache + (kp % p.cache_rows) * p.ld_kv + kvh * d;
  };
  // S = Q K^T, 4 keys per tile.
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float* rows[4] = {key_row(p.k_cache, k0 + j), key_row(p.k_cache, k0 + j + 1),
                            key_row(p.k_cache, k0 + j + 2), key_row(p.k_cache, k0 + j + 3)};
    MatMulRows<4>(q_group, d, 0, G, rows, d, scores + j, kKeyChunk);
  }
  for (; j < n; ++j) {
    const float* row = key_row(p.k_cache, k0 + j);
    MatMulRows<1>(q_group, d, 0, G, &row, d, scores + j, kKeyChunk);
  }
  const int64_t n_pad = (n + N - 1) / N * N;  // <= kKeyChunk (a multiple of N)
  float* acc = st.acc;
  for (int64_t g = 0; g < G; ++g) {
    float* s = scores + g * kKeyChunk;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, s[i] *= p.scale);
    for (int64_t i = n; i < n_pad; ++i) s[i] = m;  // padding lanes: finite, unused
    const auto vm = hn::Set(df, m);
    for (int64_t i = 0; i < n_pad; i += N) {
      hn::StoreU(hn::Exp(df, hn::Sub(hn::LoadU(df, s + i), vm)), df, s + i);
    }
    float l = 0.0f;
    for (int64_t i = 0; i < n; ++i) l += s[i];
    st.m[g] = m;
    st.l[g] = l;
  }
  // A[g] = sum_j p_gj v_j in key order, register-tiled: NV vectors of
  // channels x NG heads per pass over the chunk's keys.
  const float* vrows[kKeyChunk];
  for (int64_t jj = 0; jj < n; ++jj) vrows[jj] = key_row(p.v_cache, k0 + jj);
  int64_t i = 0;
  for (; i + 4 * N <= d; i += 4 * N) PVColumns<4>(scores, n, G, vrows, i, d, acc);
  for (; i + N <= d; i += N) PVColumns<1>(scores, n, G, vrows, i, d, acc);
  for (; i < d; ++i) {
    for (int64_t g = 0; g < G; ++g) {
      float a = 0.0f;
      for (int64_t jj = 0; jj < n; ++jj) a += scores[g * kKeyChunk + jj] * vrows[jj][i];
      acc[g * d + i] = a;
    }
  }
}

// run = merge(run, c) for G heads of dimension d.
inline void MergeState(int64_t G, int64_t d, AttnState run, const AttnState& c) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t g = 0; g < G; ++g) {
    const float M = std::max(run.m[g], c.m[g]);
    const float a = std::exp(run.m[g] - M), b = std::exp(c.m[g] - M);
    run.m[g] = M;
    run.l[g] = run.l[g] * a + c.l[g] * b;
    float* ra = run.acc + g * d;
    const float* ca = c.acc + g * d;
    const auto va = hn::Set(df, a), vb = hn::Set(df, b);
    int64_t i = 0;
    for (; i + N <= d; i += N) {
      hn::StoreU(hn::MulAdd(hn::LoadU(df, ca + i), vb, hn::Mul(hn::LoadU(df, ra + i), va)), df,
                 ra + i);
    }
    for (; i < d; ++i) ra[i] = ra[i] * a + ca[i] * b;
  }
}

inline void CopyState(int64_t G, int64_t d, AttnState dst, const AttnState& src) {
  std::copy(src.m, src.m + G, dst.m);
  std::copy(src.l, src.l + G, dst.l);
  std::copy(src.acc, src.acc + G * d, dst.acc);
}

inline void WriteOutput(int64_t G, int64_t d, const AttnState& st, float* out_group) {
  for (int64_t g = 0; g < G; ++g) {
    const float inv = 1.0f / st.l[g];
    for (int64_t i = 0; i < d; ++i) out_group[g * d + i] = st.acc[g * d + i] * inv;
  }
}

// Per-thread buffers: scores and one chunk state for G heads.
struct AttnScratch {
  std::vector<float> scores, m, l, acc;
  void Resize(int64_t G, int64_t d) {
    scores.resize(static_cast<size_t>(G * kKeyChunk));
    m.resize(static_cast<size_t>(G));
    l.resize(static_cast<size_t>(G));
    acc.resize(static_cast<size_t>(G * d));
  }
  AttnState state() { return {m.data(), l.data(), acc.data()}; }
};

inline void AttentionImpl(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                          int64_t ldo) {
  const int64_t G = p.n_q_heads / p.n_kv_heads, d = p.head_dim;
  const int64_t units = p.T * p.n_kv_heads;
  const int64_t state_floats = G * (d + 2);
  auto unit_q = [&](int64_t u) { return q + (u / p.n_kv_heads) * ldq + (u % p.n_kv_heads) * G * d; };
  auto unit_out = [&](int64_t u) {
    return out + (u / p.n_kv_heads) * ldo + (u % p.n_kv_heads) * G * d;
  };
  auto chunk_range = [&](int64_t u, int64_t c, int64_t* k0, int64_t* k1) {
    const int64_t qpos = p.pos0 + u / p.n_kv_heads;
    *k0 = FirstKey(p, qpos) + c * kKeyChunk;
    *k1 = std::min(qpos + 1, *k0 + kKeyChunk);
  };

  if (units >= 8) {
    // Prefill: each (query, KV head) runs all its chunks on one thread.
    ParallelFor(units, 1, [&](int64_t u0, int64_t u1) {
      thread_local AttnScratch chunk, run;
      chunk.Resize(G, d);
      run.Resize(G, d);
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t nc = NumChunks(p, p.pos0 + u / p.n_kv_heads);
        for (int64_t c = 0; c < nc; ++c) {
          int64_t k0, k1;
          chunk_range(u, c, &k0, &k1);
          ChunkState(p, unit_q(u), G, u % p.n_kv_heads, k0, k1, chunk.scores.data(),
                     chunk.state());
          if (c == 0) {
            CopyState(G, d, run.state(), chunk.state());
          } else {
            MergeState(G, d, run.state(), chunk.state());
          }
        }
        WriteOutput(G, d, run.state(), unit_out(u));
      }
    });
    return;
  }

  // Decode: spread the chunks of the few units over threads, then merge.
  std::vector<int64_t> first(static_cast<size_t>(units + 1), 0);
  for (int64_t u = 0; u < units; ++u) first[u + 1] = first[u] + NumChunks(p, p.pos0 + u / p.n_kv_heads);
  const int64_t total = first[units];
  std::vector<float> states(static_cast<size_t>(total * state_floats));
  auto state_at = [&](int64_t i) {
    float* base = states.data() + i * state_floats;
    return AttnState{base, base + G, base + 2 * G};
  };
  ParallelFor(total, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(G * kKeyChunk));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t u = std::upper_bound(first.begin(), first.end(), i) - first.begin() - 1;
      int64_t k0, k1;
      chunk_range(u, i - first[u], &k0, &k1);
      ChunkState(p, unit_q(u), G, u % p.n_kv_heads, k0, k1, scores.data(), state_at(i));
    }
  });
  for (int64_t u = 0; u < units; ++u) {
    const AttnState run = state_at(first[u]);
    for (int64_t i = first[u] + 1; i < first[u + 1]; ++i) MergeState(G, d, run, state_at(i));
    WriteOutput(G, d, run, unit_out(u));
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
