// AttentionGgml (attention_ggml.h): llama.cpp's non-flash CPU attention over
// an fp16 KV cache, bitwise. The portable code below is the definition; the
// AVX-512 kernels (intrinsics behind a runtime CPU check, as in ggml_q0.cc:
// Highway's MulAdd is not an FMA on every target and its SumOfLanes tree is
// not _mm512_reduce_add_ps's) take the same float steps lane by lane.
//
// Work is split in three phases, each a ParallelFor whose tasks compute
// whole outputs (so results never depend on the thread count):
//   1. scores, tasks (unit, 256-cell chunk of its visible keys), all query
//      heads of the unit's KV head together (one K row load for G dots);
//   2. softmax and fp16 rounding of p, tasks (unit, query head);
//   3. P V, tasks (unit, 32-channel group; portable: unit, head, 16 channels),
//      the V chunk widened once and shared by the unit's heads.
// A unit is one query and one KV head; units are processed in rounds so the
// score buffer stays bounded for long prefills.
#include "kernels/cpu/attention_ggml.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/attention_check.h"
#include "kernels/parallel.h"
#include "quant/float16.h"
#include "runtime/check.h"

// GCC 12 reports the _mm512_undefined_* inside the cast / convert / shuffle
// intrinsics as (maybe) uninitialized once inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace sov::kernels {
namespace internal {
namespace {

std::atomic<bool> g_fast_enabled{true};

bool CpuHasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

// Which ggml routine reduces a dot product (attention_ggml.h).
enum class Order { kTinyBlas, kVecDot };

constexpr int64_t kChunk = 256;  // cells per score task
constexpr int64_t kSlice = 16;   // channels per P V slice
constexpr int64_t kGroupSlices = 2;  // slices per P V task (AVX-512; d % 64 == 0)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One query and one KV head: visible cells [lo, hi] (positions, = llama.cpp
// cell indices), scores of its G query heads over cells [c0, c0 + n) (c0 and
// n multiples of 16), G * n floats at `off` in the round's score buffer.
struct Unit {
  int64_t t = 0, kvh = 0, lo = 0, hi = 0, c0 = 0, n = 0, off = 0;
};

struct Job {
  const AttentionParams* p = nullptr;
  int64_t d = 0, G = 0;
  Order kq = Order::kVecDot, kqv = Order::kVecDot;
  std::vector<Unit> units;
  std::vector<float> q16;     // units x G x d, f32(f16(scale * q))
  std::vector<float> scores;  // per unit G x n; after phase 2 f32(f16(p)), 0 where masked
  float* s = nullptr;         // scores.data(), writable through a const Job&
  const uint16_t* KRow(int64_t pos, int64_t kvh) const {
    return p->k_cache_f16 + (pos % p->cache_rows) * p->ld_kv + kvh * d;
  }
  const uint16_t* VRow(int64_t pos, int64_t kvh) const {
    return p->v_cache_f16 + (pos % p->cache_rows) * p->ld_kv + kvh * d;
  }
};

// ---- portable: the definition -------------------------------------------------

// _mm512_reduce_add_ps as GCC 12 expands it: high half + low half, then the
// high and low 128-bit quarters, then lanes 2,3 onto 0,1, then lane 1 onto 0.
float Reduce16(const float a[16]) {
  float h8[8], h4[4];
  for (int l = 0; l < 8; ++l) h8[l] = a[l + 8] + a[l];
  for (int l = 0; l < 4; ++l) h4[l] = h8[l + 4] + h8[l];
  const float h0 = h4[0] + h4[2], h1 = h4[1] + h4[3];
  return h0 + h1;
}

// Dot product of n elements x . y in `order` (attention_ggml.h), element i
// given as its own index (the lanes follow i).
template <class X, class Y>
float PortableDot(Order order, int64_t i0, int64_t i1, const X& x, const Y& y) {
  if (order == Order::kTinyBlas) {
    float acc[16] = {};
    for (int64_t i = i0; i < i1; ++i) acc[i & 15] = std::fma(x(i), y(i), acc[i & 15]);
    return Reduce16(acc);
  }
  float acc[4][16] = {};
  for (int64_t i = i0; i < i1; ++i) acc[(i >> 4) & 3][i & 15] = std::fma(x(i), y(i), acc[(i >> 4) & 3][i & 15]);
  float a[16];
  for (int l = 0; l < 16; ++l) {
    const float a02 = acc[0][l] + acc[2][l], a13 = acc[1][l] + acc[3][l];
    a[l] = a02 + a13;
  }
  return Reduce16(a);
}

// Scores of unit u's G heads over cells [j0, j1) (all visible).
void PortableScores(const Job& job, const Unit& u, int64_t j0, int64_t j1) {
  const int64_t d = job.d;
  const int64_t ui = &u - job.units.data();
  for (int64_t j = j0; j < j1; ++j) {
    const uint16_t* k = job.KRow(j, u.kvh);
    for (int64_t g = 0; g < job.G; ++g) {
      const float* q = job.q16.data() + (ui * job.G + g) * d;
      // vec_dot_f16 over head_dim: leftovers past d & ~63 are added in
      // double after the vector part (d is a multiple of 64 in practice).
      const int64_t np = job.kq == Order::kVecDot ? (d & ~int64_t{63}) : d;
      float s = PortableDot(job.kq, 0, np, [&](int64_t i) { return Fp16ToFp32(k[i]); },
                            [&](int64_t i) { return q[i]; });
      if (np < d) {
        double sum = s;
        for (int64_t i = np; i < d; ++i) sum += static_cast<double>(Fp16ToFp32(k[i]) * q[i]);
        s = static_cast<float>(sum);
      }
      job.s[u.off + g * u.n + (j - u.c0)] = s;
    }
  }
}

}  // namespace

float GgmlExpf(float x) {
  // ggml_v_expf (ggml-cpu/vec.h, __m512 version), one lane.
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : std::numeric_limits<float>::infinity();
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::isnan(n)) return n;
  // vscalefps: j * 2^floor(n), rounded once (n is an integer here).
  return std::ldexp(j, static_cast<int>(n));
}

namespace {

// Softmax of row g of unit u over its visible cells; writes f32(f16(p)) and
// 0 on masked cells of [c0, c0 + n).
void PortableSoftmax(const Job& job, const Unit& u, int64_t g) {
  float* s = job.s + u.off + g * u.n;  // s[j - c0]
  float m = kNegInf;
  for (int64_t j = u.lo; j <= u.hi; ++j) m = std::max(m, s[j - u.c0]);
  double sum = 0.0;
  for (int64_t c = 0; c < u.n; c += 16) {
    float e[16];
    for (int l = 0; l < 16; ++l) {
      const int64_t j = u.c0 + c + l;
      e[l] = (j >= u.lo && j <= u.hi) ? GgmlExpf(s[c + l] - m) : 0.0f;
    }
    sum += static_cast<double>(Reduce16(e));
    std::memcpy(s + c, e, sizeof(e));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t c = 0; c < u.n; ++c) s[c] = Fp16ToFp32(Fp32ToFp16(s[c] * inv));
}

// Output channels [i0, i0 + w) of row g of unit u.
void PortablePV(const Job& job, const Unit& u, int64_t g, int64_t i0, int64_t w, float* out) {
  const float* pr = job.s + u.off + g * u.n;
  for (int64_t i = i0; i < i0 + w; ++i) {
    out[i] = PortableDot(
        job.kqv, u.lo, u.hi + 1, [&](int64_t j) { return Fp16ToFp32(job.VRow(j, u.kvh)[i]); },
        [&](int64_t j) { return pr[j - u.c0]; });
  }
}

// ---- AVX-512 -------------------------------------------------------------------

#define SOV_AVX512 __attribute__((target("avx2,f16c,fma,avx512f,avx512dq")))

SOV_AVX512 inline __m512 LoadF16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// GgmlExpf on 16 lanes (the same operations as ggml_v_expf).
SOV_AVX512 inline __m512 Exp16(__m512 x) {
  const __m512 r = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
  const __m512 n = _mm512_sub_ps(z, r);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)),
                      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 res = _mm512_scalef_ps(j, n);
  const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  if (big == 0) return res;
  const __mmask16 neg = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512 alt = _mm512_mask_blend_ps(neg, _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(big, res, alt);
}

// Scores of heads g0 .. g0 + kH - 1 of unit u over visible cells [j0, j1);
// d % 64 == 0. vec_dot: accumulator a takes chunks i / 16 = a (mod 4).
// _mm512_reduce_add_ps of 16 vectors at once: each add below is, lane for
// lane, one of the adds of that tree for one vector (high 256 + low 256, then
// the 128-bit quarters, then lanes 2,3 onto 0,1, then lane 1 onto 0), so lane
// kReduceLane[k] of the result is bitwise _mm512_reduce_add_ps(v[k]).
SOV_AVX512 inline __m512 Reduce16x16(const __m512 v[16]) {
  __m512 s1[8], s2[4], s3[2];
  for (int p = 0; p < 8; ++p) {  // [h8 of v[2p] | h8 of v[2p+1]]
    s1[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44),
                          _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xEE));
  }
  for (int p = 0; p < 4; ++p) {  // one vector's h4 per 128-bit quarter
    s2[p] = _mm512_add_ps(_mm512_shuffle_f32x4(s1[2 * p], s1[2 * p + 1], 0x88),
                          _mm512_shuffle_f32x4(s1[2 * p], s1[2 * p + 1], 0xDD));
  }
  for (int p = 0; p < 2; ++p) {  // per quarter: (x0 + x2, x1 + x3) of two vectors
    s3[p] = _mm512_add_ps(_mm512_shuffle_ps(s2[2 * p], s2[2 * p + 1], 0x44),
                          _mm512_shuffle_ps(s2[2 * p], s2[2 * p + 1], 0xEE));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(s3[0], s3[1], 0x88), _mm512_shuffle_ps(s3[0], s3[1], 0xDD));
}

// Which result lane of Reduce16x16 holds vector k's sum (found once by
// reducing vectors whose sums are their indices).
struct ReduceLanes {
  int lane[16];
};
SOV_AVX512 ReduceLanes ProbeReduceLanes() {
  __m512 v[16];
  for (int k = 0; k < 16; ++k) v[k] = _mm512_mask_mov_ps(_mm512_setzero_ps(), 1, _mm512_set1_ps(float(k)));
  alignas(64) float r[16];
  _mm512_store_ps(r, Reduce16x16(v));
  ReduceLanes out{};
  for (int l = 0; l < 16; ++l) out.lane[static_cast<int>(r[l])] = l;
  return out;
}

// Scores of heads g0 .. g0 + kH - 1 of unit u over visible cells [j0, j1);
// d % 64 == 0. vec_dot: accumulator a takes chunks i / 16 = a (mod 4).
// Sixteen cells at a time, reduced together (Reduce16x16).
template <Order kOrder, int kH>
SOV_AVX512 void FastScoresHeads(const Job& job, const Unit& u, int64_t g0, int64_t j0, int64_t j1) {
  static const ReduceLanes lanes = ProbeReduceLanes();
  const int64_t d = job.d;
  const int64_t ui = &u - job.units.data();
  const float* q0 = job.q16.data() + (ui * job.G + g0) * d;
  float* s0 = job.s + u.off + g0 * u.n - u.c0;
  __m512 sums[kH][16];
  for (int64_t jg = j0; jg < j1; jg += 16) {
    const int64_t n = std::min<int64_t>(16, j1 - jg);
    int64_t kk = 0;
    if constexpr (kOrder == Order::kTinyBlas) {
      // One accumulator per dot: four cells at once for 4 * kH independent
      // FMA chains, each q load shared by four cells.
      for (; kk + 4 <= n; kk += 4) {
        const uint16_t* k[4];
        for (int c = 0; c < 4; ++c) k[c] = job.KRow(jg + kk + c, u.kvh);
        __m512 acc[4][kH];
        for (int c = 0; c < 4; ++c)
          for (int h = 0; h < kH; ++h) acc[c][h] = _mm512_setzero_ps();
        for (int64_t i = 0; i < d; i += 16) {
          __m512 kv[4];
          for (int c = 0; c < 4; ++c) kv[c] = LoadF16(k[c] + i);
          for (int h = 0; h < kH; ++h) {
            const __m512 qv = _mm512_loadu_ps(q0 + h * d + i);
            for (int c = 0; c < 4; ++c) acc[c][h] = _mm512_fmadd_ps(kv[c], qv, acc[c][h]);
          }
        }
        for (int c = 0; c < 4; ++c)
          for (int h = 0; h < kH; ++h) sums[h][kk + c] = acc[c][h];
      }
    }
    for (; kk < 16; ++kk) {
      if (kk >= n) {
        for (int h = 0; h < kH; ++h) sums[h][kk] = _mm512_setzero_ps();
        continue;
      }
      const uint16_t* k = job.KRow(jg + kk, u.kvh);
      __m512 acc[kH][4];
      for (int h = 0; h < kH; ++h)
        for (int a = 0; a < 4; ++a) acc[h][a] = _mm512_setzero_ps();
      for (int64_t i = 0; i < d; i += 64) {
        for (int a = 0; a < 4; ++a) {
          const __m512 kv = LoadF16(k + i + 16 * a);
          const int slot = kOrder == Order::kVecDot ? a : 0;
          for (int h = 0; h < kH; ++h) {
            acc[h][slot] = _mm512_fmadd_ps(kv, _mm512_loadu_ps(q0 + h * d + i + 16 * a), acc[h][slot]);
          }
        }
      }
      for (int h = 0; h < kH; ++h) {
        __m512 v = acc[h][0];
        if constexpr (kOrder == Order::kVecDot) {
          v = _mm512_add_ps(_mm512_add_ps(acc[h][0], acc[h][2]), _mm512_add_ps(acc[h][1], acc[h][3]));
        }
        sums[h][kk] = v;
      }
    }
    for (int h = 0; h < kH; ++h) {
      alignas(64) float r[16];
      _mm512_store_ps(r, Reduce16x16(sums[h]));
      for (int64_t kk = 0; kk < n; ++kk) s0[h * u.n + jg + kk] = r[lanes.lane[kk]];
    }
  }
}

template <Order kOrder>
SOV_AVX512 void FastScores(const Job& job, const Unit& u, int64_t j0, int64_t j1) {
  int64_t g = 0;
  for (; g + 4 <= job.G; g += 4) FastScoresHeads<kOrder, 4>(job, u, g, j0, j1);
  for (; g < job.G; ++g) FastScoresHeads<kOrder, 1>(job, u, g, j0, j1);
}

SOV_AVX512 void FastSoftmax(const Job& job, const Unit& u, int64_t g) {
  float* s = job.s + u.off + g * u.n;
  float m = kNegInf;
  for (int64_t j = u.lo; j <= u.hi; ++j) m = std::max(m, s[j - u.c0]);
  const __m512 vm = _mm512_set1_ps(m);
  double sum = 0.0;
  for (int64_t c = 0; c < u.n; c += 16) {
    const int64_t j = u.c0 + c;
    // Lanes of visible cells; the others are exactly 0 (exp(-inf) in ggml).
    uint32_t bits = 0xFFFF;
    if (j < u.lo) bits &= 0xFFFFu << (u.lo - j);
    if (j + 15 > u.hi) bits &= 0xFFFFu >> (j + 15 - u.hi);
    const __mmask16 vis = static_cast<__mmask16>(bits);
    const __m512 x = _mm512_maskz_loadu_ps(vis, s + c);
    const __m512 e = _mm512_maskz_mov_ps(vis, Exp16(_mm512_sub_ps(x, vm)));
    sum += static_cast<double>(_mm512_reduce_add_ps(e));
    _mm512_storeu_ps(s + c, e);
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  for (int64_t c = 0; c < u.n; c += 16) {
    const __m512 pv = _mm512_mul_ps(_mm512_loadu_ps(s + c), inv);
    _mm512_storeu_ps(s + c, _mm512_cvtph_ps(_mm512_cvtps_ph(pv, _MM_FROUND_TO_NEAREST_INT)));
  }
}

// Channels [i0, i0 + 16 * kGroupSlices) of every query head of unit u (head g's row at
// out + g * d). Cells go in 256-cell chunks: the chunk's V values of these
// channels are widened to f32 once (zero for cells outside [lo, hi], whose p
// is 0 too: fma(0, 0, acc) == acc as acc is never -0) and reused by every
// head. Key lane l = cell % 16 (as tinyBLAS / vec_dot_f16 over the
// transposed V) and accumulator set a = (cell / 16) % 4 (vec_dot) index the
// accumulators acc_mem[g][a][l][channels], kept in registers kLanes lanes x
// the task's channels at a time (16 accumulators; the chunk's V in L1) and in memory
// between chunks. Every accumulator sees its cells in increasing order, as
// in one pass.
template <Order kOrder>
SOV_AVX512 void FastPV(const Job& job, const Unit& u, int64_t i0, float* out) {
  const AttentionParams& p = *job.p;
  const int64_t b0 = u.c0 / 16, b1 = (u.c0 + u.n) / 16;
  constexpr int kSets = kOrder == Order::kVecDot ? 4 : 1;
  constexpr int64_t kChunkBlocks = kChunk / 16;
  constexpr int64_t W = 16 * kGroupSlices;  // channels per task
  constexpr int kLanes = 16 / kGroupSlices;  // key lanes in registers at a time
  const int64_t G = job.G;
  thread_local std::vector<float> acc_mem, vbuf;
  acc_mem.resize(static_cast<size_t>(G * kSets * 16 * W));  // written by the first chunk
  vbuf.resize(static_cast<size_t>(kChunk * W));
  auto accs = [&](int64_t g, int a) { return acc_mem.data() + (g * kSets + a) * 16 * W; };
  for (int64_t cb = b0; cb < b1; cb += kChunkBlocks) {
    const int64_t ce = std::min(b1, cb + kChunkBlocks);
    for (int64_t j = cb * 16; j < ce * 16; ++j) {
      float* dst = vbuf.data() + (j - cb * 16) * W;
      if (j < u.lo || j > u.hi) {
        for (int64_t sl = 0; sl < kGroupSlices; ++sl) _mm512_storeu_ps(dst + 16 * sl, _mm512_setzero_ps());
        continue;
      }
      const uint16_t* src = p.v_cache_f16 + (j % p.cache_rows) * p.ld_kv + u.kvh * job.d + i0;
      for (int64_t sl = 0; sl < kGroupSlices; ++sl) _mm512_storeu_ps(dst + 16 * sl, LoadF16(src + 16 * sl));
    }
    for (int64_t g = 0; g < G; ++g) {
      const float* pr = job.s + u.off + g * u.n - u.c0;  // pr[cell]
      for (int a = 0; a < kSets; ++a) {
        int64_t bfirst = cb;
        if constexpr (kSets > 1) bfirst += ((a - cb) % 4 + 4) % 4;
        for (int q = 0; q < 16 / kLanes; ++q) {  // lanes kLanes * q ..
          float* m = accs(g, a) + kLanes * q * W;
          __m512 acc[kLanes][kGroupSlices];
#pragma GCC unroll 16
          for (int li = 0; li < kLanes; ++li)
            for (int sl = 0; sl < kGroupSlices; ++sl)
              acc[li][sl] = cb == b0 ? _mm512_setzero_ps() : _mm512_loadu_ps(m + li * W + 16 * sl);
          for (int64_t b = bfirst; b < ce; b += kSets) {
            const float* v = vbuf.data() + ((b - cb) * 16 + kLanes * q) * W;
            const float* pb = pr + b * 16 + kLanes * q;
#pragma GCC unroll 16
            for (int li = 0; li < kLanes; ++li) {
              const __m512 bc = _mm512_set1_ps(pb[li]);
              for (int sl = 0; sl < kGroupSlices; ++sl) {
                acc[li][sl] = _mm512_fmadd_ps(_mm512_loadu_ps(v + li * W + 16 * sl), bc, acc[li][sl]);
              }
            }
          }
#pragma GCC unroll 16
          for (int li = 0; li < kLanes; ++li)
            for (int sl = 0; sl < kGroupSlices; ++sl) _mm512_storeu_ps(m + li * W + 16 * sl, acc[li][sl]);
        }
      }
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t sl = 0; sl < kGroupSlices; ++sl) {
      __m512 lanes[16];
      for (int l = 0; l < 16; ++l) {
        const __m512 a0 = _mm512_loadu_ps(accs(g, 0) + l * W + 16 * sl);
        lanes[l] = a0;
        if constexpr (kSets > 1) {
          const __m512 a1 = _mm512_loadu_ps(accs(g, 1 % kSets) + l * W + 16 * sl);
          const __m512 a2 = _mm512_loadu_ps(accs(g, 2 % kSets) + l * W + 16 * sl);
          const __m512 a3 = _mm512_loadu_ps(accs(g, 3 % kSets) + l * W + 16 * sl);
          lanes[l] = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
        }
      }
      // Reduce16 across the 16 key lanes, channel by channel.
      __m512 h8[8], h4[4];
      for (int l = 0; l < 8; ++l) h8[l] = _mm512_add_ps(lanes[l + 8], lanes[l]);
      for (int l = 0; l < 4; ++l) h4[l] = _mm512_add_ps(h8[l + 4], h8[l]);
      const __m512 r = _mm512_add_ps(_mm512_add_ps(h4[0], h4[2]), _mm512_add_ps(h4[1], h4[3]));
      _mm512_storeu_ps(out + g * job.d + i0 + 16 * sl, r);
    }
  }
}

SOV_AVX512 void FastRoundQ(const float* q, int64_t n, float scale, float* out) {
  const __m512 vs = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(q + i), vs);
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)));
  }
  for (; i < n; ++i) out[i] = Fp16ToFp32(Fp32ToFp16(q[i] * scale));
}

#undef SOV_AVX512

// ---- driver --------------------------------------------------------------------

// Score floats per round: bounds the buffer (16 MiB) on long prefills.
constexpr int64_t kRoundFloats = int64_t{1} << 22;

void RunRound(Job& job, float* out, int64_t ldo, bool fast) {
  const int64_t d = job.d, G = job.G;
  const int64_t U = static_cast<int64_t>(job.units.size());
  job.scores.assign(static_cast<size_t>(job.units.back().off + G * job.units.back().n), 0.0f);
  job.s = job.scores.data();

  // Phase 1: scores, tasks (unit, 256-cell chunk).
  std::vector<int64_t> first(static_cast<size_t>(U + 1), 0);
  for (int64_t i = 0; i < U; ++i) {
    const Unit& u = job.units[i];
    first[i + 1] = first[i] + u.hi / kChunk - u.lo / kChunk + 1;
  }
  ParallelFor(first.back(), 1, [&](int64_t a, int64_t b) {
    for (int64_t task = a; task < b; ++task) {
      const int64_t ui = std::upper_bound(first.begin(), first.end(), task) - first.begin() - 1;
      const Unit& u = job.units[ui];
      const int64_t c = u.lo / kChunk + (task - first[ui]);
      const int64_t j0 = std::max(u.lo, c * kChunk), j1 = std::min(u.hi + 1, (c + 1) * kChunk);
      if (!fast) {
        PortableScores(job, u, j0, j1);
      } else if (job.kq == Order::kTinyBlas) {
        FastScores<Order::kTinyBlas>(job, u, j0, j1);
      } else {
        FastScores<Order::kVecDot>(job, u, j0, j1);
      }
    }
  });

  // Phase 2: softmax per (unit, head). Short rows share a task.
  const int64_t avg_n = static_cast<int64_t>(job.scores.size()) / (U * G);
  ParallelFor(U * G, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, avg_n)), [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) {
      const Unit& u = job.units[r / G];
      if (fast) {
        FastSoftmax(job, u, r % G);
      } else {
        PortableSoftmax(job, u, r % G);
      }
    }
  });

  // Phase 3: P V. Portable: tasks (unit, head, 16-channel slice); AVX-512:
  // tasks (unit, group of kGroupSlices slices), all heads of the unit.
  const int64_t n_slices = (d + kSlice - 1) / kSlice;
  if (!fast) {
    const int64_t grain = std::max<int64_t>(1, 512 / std::max<int64_t>(1, avg_n));
    ParallelFor(U * G * n_slices, grain, [&](int64_t a, int64_t b) {
      for (int64_t task = a; task < b; ++task) {
        const int64_t r = task / n_slices, i0 = (task % n_slices) * kSlice;
        const Unit& u = job.units[r / G];
        const int64_t g = r % G;
        PortablePV(job, u, g, i0, std::min(kSlice, d - i0), out + u.t * ldo + (u.kvh * G + g) * d);
      }
    });
    return;
  }
  const int64_t n_groups = (n_slices + kGroupSlices - 1) / kGroupSlices;
  const int64_t grain = std::max<int64_t>(1, 256 / std::max<int64_t>(1, avg_n * G));
  ParallelFor(U * n_groups, grain, [&](int64_t a, int64_t b) {
    for (int64_t task = a; task < b; ++task) {
      const Unit& u = job.units[task / n_groups];
      const int64_t s0 = (task % n_groups) * kGroupSlices;
      float* o = out + u.t * ldo + u.kvh * G * d;
      if (job.kqv == Order::kTinyBlas) {
        FastPV<Order::kTinyBlas>(job, u, s0 * kSlice, o);
      } else {
        FastPV<Order::kVecDot>(job, u, s0 * kSlice, o);
      }
    }
  });
}

}  // namespace

bool AttentionGgmlFastAvailable() { return CpuHasAvx512(); }
void SetAttentionGgmlFastEnabled(bool enabled) { g_fast_enabled.store(enabled); }

}  // namespace internal

void AttentionGgml(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  using namespace internal;  // NOLINT: this file's own helpers
  SOV_CHECK(p.k_cache_f16 != nullptr && p.v_cache_f16 != nullptr)
      << "AttentionGgml: the fp16 cache pointers are not set";
  CheckAttentionGeometry("AttentionGgml", p, ldq, ldo);
  if (p.T == 0) return;
  Job job;
  job.p = &p;
  job.d = p.head_dim;
  job.G = p.n_q_heads / p.n_kv_heads;
  // llamafile_sgemm takes T >= 2 when k % 16 == 0 and m % 4 == 0: for kq
  // k = head_dim, m = n_kv (a multiple of 256); for kqv k = n_kv, m = head_dim.
  job.kq = (p.T >= 2 && job.d % 16 == 0) ? Order::kTinyBlas : Order::kVecDot;
  job.kqv = (p.T >= 2 && job.d % 4 == 0) ? Order::kTinyBlas : Order::kVecDot;
  const bool fast = g_fast_enabled.load() && CpuHasAvx512() && job.d % 64 == 0;
  const int64_t d = job.d, G = job.G;

  int64_t t = 0;
  while (t < p.T) {
    // One round: consecutive (query, KV head) units up to kRoundFloats scores.
    job.units.clear();
    int64_t floats = 0;
    const int64_t t_begin = t;
    for (; t < p.T; ++t) {
      const int64_t qp = p.pos0 + t;
      const int64_t lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
      const int64_t c0 = lo & ~int64_t{15}, n = ((qp | 15) + 1) - c0;
      if (t > t_begin && floats + p.n_kv_heads * G * n > kRoundFloats) break;
      for (int64_t h = 0; h < p.n_kv_heads; ++h) {
        job.units.push_back(Unit{t, h, lo, qp, c0, n, floats});
        floats += G * n;
      }
    }
    job.q16.resize(job.units.size() * static_cast<size_t>(G * d));
    for (size_t i = 0; i < job.units.size(); ++i) {
      const Unit& u = job.units[i];
      const float* src = q + u.t * ldq + u.kvh * G * d;
      float* dst = job.q16.data() + i * G * d;
      if (fast) {
        FastRoundQ(src, G * d, p.scale, dst);
      } else {
        for (int64_t k = 0; k < G * d; ++k) dst[k] = Fp16ToFp32(Fp32ToFp16(src[k] * p.scale));
      }
    }
    RunRound(job, out, ldo, fast);
  }
}

}  // namespace sov::kernels
