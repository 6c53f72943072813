// Q6_K MatMul in llama.cpp's x86 float orders (see ggml_q6k.h for the steps).
// The portable code below is the definition; the AVX512-VNNI kernel forms
// the same exact lane integers (maddubs + vpdpwssd, as ggml's maddubs + madd)
// and takes the same float steps, so every path is bitwise equal for any T
// and thread count (each output is computed whole by one task).
#include "kernels/cpu/ggml_q6k.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/qmatmul.h"
#include "kernels/parallel.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "runtime/check.h"

// GCC 12 reports the _mm512_undefined_* inside the cast intrinsics as "maybe
// uninitialized" once the kernels are inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sov::kernels::internal {
namespace {

std::atomic<bool> g_fast_enabled{true};

bool CpuHasVnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}

// ---- portable: the definition -------------------------------------------------

// The unsigned 6-bit codes of one superblock in element order (ggml's
// q4_0..q4_3 vectors of each 128-element half: low nibbles of ql[0..31],
// low nibbles of ql[32..63], then the high nibbles, each with its 2 qh bits).
void Codes(const BlockQ6_K& x, uint8_t u[kQK_K]) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    uint8_t* out = u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

// vec_dot step 2's lane integers L_0..L_7 of one superblock.
void VecDotLanes(const BlockQ6_K& x, const BlockQ8_K& a, int32_t lanes[8]) {
  uint8_t u[kQK_K];
  Codes(x, u);
  for (int m = 0; m < 8; ++m) {
    int32_t l = 0;
    for (int g = 0; g < 8; ++g) {
      int32_t s = 0;
      for (int e = 32 * g + 4 * m; e < 32 * g + 4 * m + 4; ++e) s += u[e] * a.qs[e];
      l += x.scales[2 * g + m / 4] * s;
    }
    l -= 32 * (x.scales[2 * m] * a.bsums[2 * m] + x.scales[2 * m + 1] * a.bsums[2 * m + 1]);
    lanes[m] = l;
  }
}

// tiled step 2's integer S of one superblock.
int32_t TiledSum(const BlockQ6_K& x, const BlockQ8_K& a) {
  uint8_t u[kQK_K];
  Codes(x, u);
  int32_t sum = 0;
  for (int s = 0; s < 16; ++s) {
    int32_t p = 0;
    for (int e = 16 * s; e < 16 * s + 16; ++e) p += (u[e] - 32) * a.qs[e];
    sum += x.scales[s] * p;
  }
  return sum;
}

// vec_dot step 3 (hsum_float_8): only additions, so nothing can contract.
float HsumGgml(const float acc[8]) {
  const float s0 = acc[4] + acc[0], s1 = acc[5] + acc[1];
  const float s2 = acc[6] + acc[2], s3 = acc[7] + acc[3];
  return (s0 + s2) + (s1 + s3);
}

float VecDotPortable(const BlockQ6_K* x, const BlockQ8_K* a, int64_t nb) {
  float acc[8] = {};
  for (int64_t b = 0; b < nb; ++b) {
    // The scale product is rounded on its own (a scalar mulss in ggml); then
    // one fused step per lane: std::fma is the correctly rounded vfmadd.
    const float d = Materialize(a[b].d * Fp16ToFp32(x[b].d));
    int32_t lanes[8];
    VecDotLanes(x[b], a[b], lanes);
    for (int m = 0; m < 8; ++m) acc[m] = std::fma(d, static_cast<float>(lanes[m]), acc[m]);
  }
  return HsumGgml(acc);
}

float TiledPortable(const BlockQ6_K* x, const BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const float p = Materialize(static_cast<float>(TiledSum(x[b], a[b])) * Fp16ToFp32(x[b].d));
    acc = std::fma(p, a[b].d, acc);
  }
  return acc;
}

// ---- AVX512-VNNI -----------------------------------------------------------------
//
// One superblock of a weight row is unpacked once into four zmm of codes
// (elements 64k..64k+63) and four zmm of int16 scales (int16 lane i of zmm k
// is the scale of elements 64k+2i and 64k+2i+1), then used for every token
// of a chunk. Per token: p = maddubs(codes, a) (pairs; |p| <= 2 * 63 * 128,
// no saturation), v = vpdpwssd(v, p, scales) (exact), so dword lane j of zmm
// k is sc * (4 products) of group 2k (j < 8, lane m = j) or 2k + 1 (j >= 8,
// m = j - 8), and L_m = v[m] + v[m + 8] - (madd(bsums, scales) << 5)[m]:
// ggml's lane integers exactly (integer additions, any order).

#define SOV_VNNI512 __attribute__((target("avx2,f16c,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

struct Unpacked {
  __m512i codes[4];
  __m512i sc16[4];
  __m256i sc16_all;  // the 16 scales as int16 (the bsums correction)
  float d0;
};

SOV_VNNI512 inline void Unpack(const BlockQ6_K& x, Unpacked* u) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m3 = _mm256_set1_epi8(0x03);
  __m256i g[8];  // 32-element groups in element order
  for (int h = 0; h < 2; ++h) {
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h));
    g[4 * h + 0] =
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
    g[4 * h + 1] = _mm256_or_si256(
        _mm256_and_si256(l1, m4),
        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
    g[4 * h + 2] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
    g[4 * h + 3] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
  }
  for (int k = 0; k < 4; ++k)
    u->codes[k] = _mm512_inserti64x4(_mm512_castsi256_si512(g[2 * k]), g[2 * k + 1], 1);
  u->sc16_all = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
  const __m512i all = _mm512_broadcast_i64x4(u->sc16_all);
  for (int k = 0; k < 4; ++k) {
    // int16 lane i -> scale 4k + i / 8.
    const __m512i idx = _mm512_set_epi16(
        4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
        4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
        4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
        4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k);
    u->sc16[k] = _mm512_permutexvar_epi16(idx, all);
  }
  u->d0 = _cvtsh_ss(x.d);
}

SOV_VNNI512 inline __m256i Lanes(const Unpacked& u, const BlockQ8_K& a) {
  __m512i v = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k) {
    const __m512i av = _mm512_loadu_si512(a.qs + 64 * k);
    v = _mm512_dpwssd_epi32(v, _mm512_maddubs_epi16(u.codes[k], av), u.sc16[k]);
  }
  const __m256i corr = _mm256_slli_epi32(
      _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)), u.sc16_all),
      5);
  const __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  return _mm256_sub_epi32(sum, corr);
}

SOV_VNNI512 inline int32_t HsumInt(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// vec_dot step 3 with the instructions ggml uses.
SOV_VNNI512 inline float Hsum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct Act {
  const uint8_t* data;  // T rows written by QuantizeActRow(kQ8_K)
  size_t row_bytes;
  const BlockQ8_K* row(int64_t t) const {
    return reinterpret_cast<const BlockQ8_K*>(data + row_bytes * t);
  }
};

constexpr int kVecDotMaxTokens = static_cast<int>(kGgmlTiledMinTokens) - 1;
// Tokens per pass of the tiled kernel: each superblock is unpacked once per
// pass, and a pass's accumulators and activation blocks stay in L1.
constexpr int kTiledTokenChunk = 16;

// kR weight rows from n against tokens [t0, t0 + nt) in the vec_dot order.
template <int kR>
SOV_VNNI512 void VecDotTile(const WeightView& w, int64_t n, const Act& act, int64_t t0, int nt,
                            int64_t nb, float* y, int64_t ldy) {
  const BlockQ6_K* x[kR];
  for (int r = 0; r < kR; ++r) x[r] = reinterpret_cast<const BlockQ6_K*>(w.row(n + r));
  const BlockQ8_K* a[kVecDotMaxTokens];
  for (int t = 0; t < nt; ++t) a[t] = act.row(t0 + t);
  __m256 acc[kR][kVecDotMaxTokens];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    Unpacked u[kR];
    for (int r = 0; r < kR; ++r) Unpack(x[r][b], &u[r]);
    for (int t = 0; t < nt; ++t) {
      const BlockQ8_K& ab = a[t][b];
      for (int r = 0; r < kR; ++r) {
        const float d = ab.d * u[r].d0;  // vmulss in ggml; nothing to contract with
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(Lanes(u[r], ab)),
                                    acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < nt; ++t) y[(t0 + t) * ldy + n + r] = Hsum8(acc[r][t]);
}

// kR weight rows from n against tokens [t0, t0 + nt) in the tiled order.
template <int kR>
SOV_VNNI512 void TiledTile(const WeightView& w, int64_t n, const Act& act, int64_t t0, int nt,
                           int64_t nb, float* y, int64_t ldy) {
  const BlockQ6_K* x[kR];
  for (int r = 0; r < kR; ++r) x[r] = reinterpret_cast<const BlockQ6_K*>(w.row(n + r));
  const BlockQ8_K* a[kTiledTokenChunk];
  for (int t = 0; t < nt; ++t) a[t] = act.row(t0 + t);
  float acc[kR][kTiledTokenChunk] = {};
  for (int64_t b = 0; b < nb; ++b) {
    Unpacked u[kR];
    for (int r = 0; r < kR; ++r) Unpack(x[r][b], &u[r]);
    for (int t = 0; t < nt; ++t) {
      const BlockQ8_K& ab = a[t][b];
      for (int r = 0; r < kR; ++r) {
        const int32_t s = HsumInt(Lanes(u[r], ab));
        const float p = Materialize(static_cast<float>(s) * u[r].d0);
        acc[r][t] = std::fma(p, ab.d, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int t = 0; t < nt; ++t) y[(t0 + t) * ldy + n + r] = acc[r][t];
}

// Rows [n0, n1), all tokens.
void RowsFast(const WeightView& w, const Act& act, int64_t T, int64_t nb, int64_t n0, int64_t n1,
              float* y, int64_t ldy) {
  constexpr int kRows = 2;
  if (T < kGgmlTiledMinTokens) {
    const int nt = static_cast<int>(T);
    int64_t n = n0;
    for (; n + kRows <= n1; n += kRows) VecDotTile<kRows>(w, n, act, 0, nt, nb, y, ldy);
    for (; n < n1; ++n) VecDotTile<1>(w, n, act, 0, nt, nb, y, ldy);
    return;
  }
  for (int64_t t0 = 0; t0 < T; t0 += kTiledTokenChunk) {
    const int nt = static_cast<int>(std::min<int64_t>(kTiledTokenChunk, T - t0));
    int64_t n = n0;
    for (; n + kRows <= n1; n += kRows) TiledTile<kRows>(w, n, act, t0, nt, nb, y, ldy);
    for (; n < n1; ++n) TiledTile<1>(w, n, act, t0, nt, nb, y, ldy);
  }
}

#undef SOV_VNNI512

}  // namespace

bool GgmlMatMulQ6KSupports(const WeightView& w) {
  return w.dtype == DType::kQ6_K && w.cols % kQK_K == 0;
}

bool GgmlMatMulQ6KFastAvailable() { return CpuHasVnni(); }
void SetGgmlMatMulQ6KFastEnabled(bool enabled) { g_fast_enabled.store(enabled); }

void GgmlMatMulQ6K(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy) {
  SOV_CHECK(GgmlMatMulQ6KSupports(w)) << "GgmlMatMulQ6K: weight type " << Name(w.dtype) << " with "
                                      << w.cols << " columns is not Q6_K with whole superblocks";
  const int64_t K = w.cols, N = w.rows, nb = K / kQK_K;

  // Activations to Q8_K once per call, reused by every weight row.
  const size_t arow = ActRowBytes(ActFormat::kQ8_K, K);
  std::vector<uint8_t> act(arow * static_cast<size_t>(T));
  ParallelFor(T, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      QuantizeActRow(ActFormat::kQ8_K, x + t * ldx, K, act.data() + arow * t);
  });
  const Act a{act.data(), arow};
  const bool fast = g_fast_enabled.load() && CpuHasVnni();
  const bool tiled = T >= kGgmlTiledMinTokens;

  // Rows in chunks of 32 (each output is computed whole by one task, so the
  // split cannot change results).
  constexpr int64_t kRowsPerChunk = 32;
  ParallelFor(N, kRowsPerChunk, [&](int64_t n0, int64_t n1) {
    if (fast) return RowsFast(w, a, T, nb, n0, n1, y, ldy);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = n0; n < n1; ++n) {
        const auto* wr = reinterpret_cast<const BlockQ6_K*>(w.row(n));
        y[t * ldy + n] = tiled ? TiledPortable(wr, a.row(t), nb) : VecDotPortable(wr, a.row(t), nb);
      }
    }
  });
}

}  // namespace sov::kernels::internal
