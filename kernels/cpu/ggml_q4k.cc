// Q4_K MatMul in the float orders of llama.cpp's repacked x86 path (see
// ggml_q4k.h for the steps). The portable code below is the definition; the
// AVX512-VNNI kernels form the same exact chunk integers I_k, M_k (by other
// instruction sequences than ggml's; integer sums are exact in any order)
// and take the same float steps, so every path is bitwise equal for any T
// and thread count (each output is computed whole by one task). The main
// kernel keeps 16 weight rows in the lanes (ggml's interleaved layout,
// rebuilt per superblock in registers from sov's plain blocks, so no
// repacked weight copy is needed); a 4-row kernel takes the last 8 rows when
// the row count is not a multiple of 16.
#include "kernels/cpu/ggml_q4k.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
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

// The fast kernels' instruction sets (kernels/cpu/qmatmul.h).
bool CpuHasVnni() { return CpuHasAvx512VnniFmaF16c(); }

// Activation rows below this index take the gemm order (and the 4-row
// quantizer): the whole groups of four.
int64_t GemmRows(int64_t T) { return T - T % 4; }

// ---- portable: the definition -------------------------------------------------

// The chunk integers I_k, M_k (k = 0..3) of one superblock.
void ChunkInts(const BlockQ4_K& x, const BlockQ8_K& a, int32_t I[4], int32_t M[4]) {
  for (int k = 0; k < 4; ++k) {
    I[k] = 0;
    M[k] = 0;
    for (int h = 0; h < 2; ++h) {
      const int j = 2 * k + h;
      uint8_t sc, m;
      GetScaleMinK4(j, x.scales, &sc, &m);
      int32_t dot = 0, bsum = 0;
      for (int l = 0; l < 32; ++l) {
        const int32_t q = (x.qs[32 * k + l] >> (4 * h)) & 0xF;
        dot += q * a.qs[32 * j + l];
        bsum += a.qs[32 * j + l];
      }
      I[k] += sc * dot;
      M[k] += m * bsum;
    }
  }
}

float DotPortable(const BlockQ4_K* x, const BlockQ8_K* a, int64_t nb, bool gemm) {
  float acc = 0.0f, accm = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    // The scale products are rounded on their own (vmulps), then one fused
    // step per integer: std::fma is the correctly rounded vfmadd.
    const float p = Materialize(Fp16ToFp32(x[b].d) * a[b].d);
    const float q = Materialize(Fp16ToFp32(x[b].dmin) * a[b].d);
    int32_t I[4], M[4];
    ChunkInts(x[b], a[b], I, M);
    if (gemm) {
      for (int k = 0; k < 4; ++k) {
        acc = std::fma(static_cast<float>(I[k]), p, acc);
        accm = std::fma(static_cast<float>(M[k]), q, accm);
      }
    } else {
      acc = std::fma(static_cast<float>(I[0] + I[1] + I[2] + I[3]), p, acc);
      accm = std::fma(static_cast<float>(M[0] + M[1] + M[2] + M[3]), q, accm);
    }
  }
  return acc - accm;
}

// ---- AVX512-VNNI -----------------------------------------------------------------
//
// The 4-row kernel (row-count tails). A tile is 4 weight rows (outputs n..n+3, one float lane each)
// against a range of tokens. Per superblock each weight row is unpacked once into four zmm of codes
// (chunk k: elements 64k..64k+63) and four zmm of int16 scales (lanes 0-15: sc_{2k}, lanes 16-31:
// sc_{2k+1}). Per token and row: v_k = vpdpwssd(0, maddubs(codes_k, a_k), scales_k) (pair sums of
// at most 2 * 15 * 128, no saturation; then exact), so the 16 dword lanes of v_k sum to I_k. M_k
// comes from madd(mins, B) with B the eight 32-element sums.

#define SOV_VNNI512 __attribute__((target("avx2,f16c,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

struct Unpacked {
  __m512i codes[4];
  __m512i sc16[4];
  __m128i mins16;  // m_0..m_7 as int16
};

SOV_VNNI512 inline void Unpack(const BlockQ4_K& x, Unpacked* u) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  alignas(16) int16_t mins[8];
  for (int k = 0; k < 4; ++k) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * k));
    const __m256i lo = _mm256_and_si256(raw, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    u->codes[k] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    uint8_t sc0, m0, sc1, m1;
    GetScaleMinK4(2 * k, x.scales, &sc0, &m0);
    GetScaleMinK4(2 * k + 1, x.scales, &sc1, &m1);
    u->sc16[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(sc0)),
                                    _mm256_set1_epi16(sc1), 1);
    mins[2 * k] = m0;
    mins[2 * k + 1] = m1;
  }
  u->mins16 = _mm_load_si128(reinterpret_cast<const __m128i*>(mins));
}

SOV_VNNI512 inline __m256i Half(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// [sum of a's lanes, sum of b's, sum of c's, sum of d's].
SOV_VNNI512 inline __m128i Reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m256i ab = _mm256_hadd_epi32(Half(a), Half(b));
  const __m256i cd = _mm256_hadd_epi32(Half(c), Half(d));
  const __m256i abcd = _mm256_hadd_epi32(ab, cd);
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

SOV_VNNI512 inline void Transpose4(__m128i r[4]) {
  const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpackhi_epi32(r[0], r[1]);
  const __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
  r[0] = _mm_unpacklo_epi64(t0, t2);
  r[1] = _mm_unpackhi_epi64(t0, t2);
  r[2] = _mm_unpacklo_epi64(t1, t3);
  r[3] = _mm_unpackhi_epi64(t1, t3);
}

struct Act {
  const BlockQ8_K* blocks;  // T rows of nb blocks
  const int16_t* bsum32;    // T rows of nb x 8 sums of 32 activation qs
  int64_t nb;
  const BlockQ8_K* row(int64_t t) const { return blocks + t * nb; }
  const int16_t* sums(int64_t t) const { return bsum32 + t * nb * 8; }
};

constexpr int kTokenChunk = 32;

// Rows n..n+3 against tokens [t0, t0 + nt), nt <= kTokenChunk.
template <bool kGemm>
SOV_VNNI512 void Tile(const WeightView& w, int64_t n, const Act& act, int64_t t0, int nt, float* y,
                      int64_t ldy) {
  const BlockQ4_K* x[4];
  for (int c = 0; c < 4; ++c) x[c] = reinterpret_cast<const BlockQ4_K*>(w.row(n + c));
  __m128 acc[kTokenChunk], accm[kTokenChunk];
  for (int t = 0; t < nt; ++t) acc[t] = accm[t] = _mm_setzero_ps();
  for (int64_t b = 0; b < act.nb; ++b) {
    Unpacked u[4];
    for (int c = 0; c < 4; ++c) Unpack(x[c][b], &u[c]);
    const __m128 d4 = _mm_cvtph_ps(_mm_setr_epi16(
        static_cast<int16_t>(x[0][b].d), static_cast<int16_t>(x[1][b].d),
        static_cast<int16_t>(x[2][b].d), static_cast<int16_t>(x[3][b].d), 0, 0, 0, 0));
    const __m128 dm4 = _mm_cvtph_ps(_mm_setr_epi16(
        static_cast<int16_t>(x[0][b].dmin), static_cast<int16_t>(x[1][b].dmin),
        static_cast<int16_t>(x[2][b].dmin), static_cast<int16_t>(x[3][b].dmin), 0, 0, 0, 0));
    for (int t = 0; t < nt; ++t) {
      const BlockQ8_K& ab = act.row(t0 + t)[b];
      const __m128i bs =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(act.sums(t0 + t) + 8 * b));
      __m512i av[4];
      for (int k = 0; k < 4; ++k) av[k] = _mm512_loadu_si512(ab.qs + 64 * k);
      __m512i v[4][4];
      for (int c = 0; c < 4; ++c)
        for (int k = 0; k < 4; ++k)
          v[c][k] = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
                                        _mm512_maddubs_epi16(u[c].codes[k], av[k]), u[c].sc16[k]);
      __m128i mk[4];  // per row: [M_0, M_1, M_2, M_3]
      for (int c = 0; c < 4; ++c) mk[c] = _mm_madd_epi16(u[c].mins16, bs);
      const __m128 ad = _mm_set1_ps(ab.d);
      const __m128 p = _mm_mul_ps(d4, ad);
      const __m128 q = _mm_mul_ps(dm4, ad);
      if constexpr (kGemm) {
        __m128i ik[4];  // per row: [I_0, I_1, I_2, I_3]
        for (int c = 0; c < 4; ++c) ik[c] = Reduce4(v[c][0], v[c][1], v[c][2], v[c][3]);
        Transpose4(ik);  // ik[k] = I_k of rows 0..3
        Transpose4(mk);
        for (int k = 0; k < 4; ++k) {
          acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(ik[k]), p, acc[t]);
          accm[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(mk[k]), q, accm[t]);
        }
      } else {
        __m512i s[4];
        for (int c = 0; c < 4; ++c)
          s[c] = _mm512_add_epi32(_mm512_add_epi32(v[c][0], v[c][1]),
                                  _mm512_add_epi32(v[c][2], v[c][3]));
        const __m128i ib = Reduce4(s[0], s[1], s[2], s[3]);
        const __m128i mb =
            _mm_hadd_epi32(_mm_hadd_epi32(mk[0], mk[1]), _mm_hadd_epi32(mk[2], mk[3]));
        acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(ib), p, acc[t]);
        accm[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(mb), q, accm[t]);
      }
    }
  }
  for (int t = 0; t < nt; ++t) _mm_storeu_ps(y + (t0 + t) * ldy + n, _mm_sub_ps(acc[t], accm[t]));
}

// ---- 16 rows in the lanes ----------------------------------------------------------
//
// The main kernel puts 16 weight rows in the 16 dword lanes, as ggml's
// interleaved layout does, so nothing is reduced across lanes: per
// superblock the rows' qs are transposed in registers (16 x 32 dwords; dword
// i of row r lands in lane r of codes vector i), and per token the dot of
// sub-block j is a chain of vpdpbusd of those codes with the token's 4
// activation bytes broadcast (exact). I_k and M_k then follow with vpmulld /
// vpmaddwd, all in lanes = rows, and the float steps are the same per lane.

// 16x16 dword transpose of r[0..15] in place.
SOV_VNNI512 inline void Transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Now each 128-bit lane holds 4 rows' dwords of one column; the two
  // 128-bit shuffle levels gather the 4 row quads of each column.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD);
  }
}

typedef int32_t UnalignedI32 __attribute__((may_alias, aligned(1)));

// The per-row superblock headers of rows n..n+15, one row per lane.
struct Headers16 {
  __m512i sc[8];    // sc_j per row (int32)
  __m512i mins[4];  // m_{2k} | m_{2k+1} << 16 per row
  __m512 d, dmin;
};

// The first 16 bytes of superblock b (d, dmin, the 12 scale bytes) of rows
// n..n+15 into lanes: 16 loads and a 4x4 dword transpose per 128-bit lane
// (zmm q holds rows q, q+4, q+8, q+12, so transposed lane 4j+q is row 4j+q).
// Cheaper than four 16-lane gathers.
SOV_VNNI512 inline void LoadHeaders16(const WeightView& w, int64_t n, int64_t b, Headers16* u) {
  const uint8_t* base = w.row(n) + b * sizeof(BlockQ4_K);
  const size_t rb = w.row_bytes;
  __m512i z[4];
  for (int q = 0; q < 4; ++q) {
    const auto* r0 = reinterpret_cast<const __m128i*>(base + q * rb);
    __m512i v = _mm512_zextsi128_si512(_mm_loadu_si128(r0));
    v = _mm512_inserti32x4(
        v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + (q + 4) * rb)), 1);
    v = _mm512_inserti32x4(
        v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + (q + 8) * rb)), 2);
    z[q] = _mm512_inserti32x4(
        v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + (q + 12) * rb)), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  const __m512i dd = _mm512_unpacklo_epi64(t0, t2);  // d | dmin << 16
  const __m512i s0 = _mm512_unpackhi_epi64(t0, t2);  // scale bytes 0..3
  const __m512i s1 = _mm512_unpacklo_epi64(t1, t3);  // 4..7
  const __m512i s2 = _mm512_unpackhi_epi64(t1, t3);  // 8..11
  u->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
  u->dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
  const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15);
  __m512i m[8];
  for (int j = 0; j < 4; ++j) {
    const __m512i b0 = _mm512_and_si512(_mm512_srli_epi32(s0, 8 * j), _mm512_set1_epi32(0xFF));
    const __m512i b1 = _mm512_and_si512(_mm512_srli_epi32(s1, 8 * j), _mm512_set1_epi32(0xFF));
    const __m512i b2 = _mm512_and_si512(_mm512_srli_epi32(s2, 8 * j), _mm512_set1_epi32(0xFF));
    u->sc[j] = _mm512_and_si512(b0, m63);
    m[j] = _mm512_and_si512(b1, m63);
    u->sc[j + 4] =
        _mm512_or_si512(_mm512_and_si512(b2, m15), _mm512_slli_epi32(_mm512_srli_epi32(b0, 6), 4));
    m[j + 4] =
        _mm512_or_si512(_mm512_srli_epi32(b2, 4), _mm512_slli_epi32(_mm512_srli_epi32(b1, 6), 4));
  }
  for (int k = 0; k < 4; ++k)
    u->mins[k] = _mm512_or_si512(m[2 * k], _mm512_slli_epi32(m[2 * k + 1], 16));
}

struct Rows16 : Headers16 {
  __m512i lo[32];  // [8k + p]: codes of elements 64k + 4p .. +3 (sub-block 2k)
  __m512i hi[32];  // [8k + p]: codes of elements 64k + 32 + 4p .. +3 (2k + 1)
};

// The 64 qs bytes at offset 64 h of superblock b of rows n..n+15, transposed:
// r[i] lane l = dword i of row n + l (codes of elements 128h + 4i .. +3
// (low nibbles) and 128h + 32 + 4i .. +3 (high), i < 8; chunk 2h + 1 for i >= 8).
SOV_VNNI512 inline void LoadCodes16(const WeightView& w, int64_t n, int64_t b, int h,
                                    __m512i r[16]) {
  const uint8_t* base = w.row(n) + b * sizeof(BlockQ4_K) + offsetof(BlockQ4_K, qs) + 64 * h;
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(base + i * w.row_bytes);
  Transpose16(r);
}

SOV_VNNI512 inline void Unpack16(const WeightView& w, int64_t n, int64_t b, Rows16* u) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    __m512i r[16];
    LoadCodes16(w, n, b, h, r);
    for (int i = 0; i < 16; ++i) {
      u->lo[16 * h + i] = _mm512_and_si512(r[i], m4);
      u->hi[16 * h + i] = _mm512_and_si512(_mm512_srli_epi16(r[i], 4), m4);
    }
  }
  LoadHeaders16(w, n, b, u);
}

// kNt tokens from t of one unpacked superblock b into acc / accm: each code
// vector is loaded once for all kNt tokens.
template <bool kGemm, int kNt>
SOV_VNNI512 inline void Tokens16(const Rows16& u, const Act& act, int64_t t, int64_t b, __m512* acc,
                                 __m512* accm) {
  const BlockQ8_K* ab[kNt];
  const int16_t* bs[kNt];
  __m512 p[kNt], q[kNt];
  __m512i isum[kNt], msum[kNt];
  for (int i = 0; i < kNt; ++i) {
    ab[i] = &act.row(t + i)[b];
    bs[i] = act.sums(t + i) + 8 * b;
    const __m512 ad = _mm512_set1_ps(ab[i]->d);
    p[i] = _mm512_mul_ps(u.d, ad);
    q[i] = _mm512_mul_ps(u.dmin, ad);
    isum[i] = msum[i] = _mm512_setzero_si512();
  }
  for (int k = 0; k < 4; ++k) {
    __m512i d0[kNt], d1[kNt];
    for (int i = 0; i < kNt; ++i) d0[i] = d1[i] = _mm512_setzero_si512();
    for (int pp = 0; pp < 8; ++pp) {
      const __m512i lo = u.lo[8 * k + pp], hi = u.hi[8 * k + pp];
      for (int i = 0; i < kNt; ++i) {
        // The token's 4 activation bytes of this dword, broadcast.
        const auto* a = reinterpret_cast<const UnalignedI32*>(ab[i]->qs + 64 * k + 4 * pp);
        d0[i] = _mm512_dpbusd_epi32(d0[i], lo, _mm512_set1_epi32(a[0]));
        d1[i] = _mm512_dpbusd_epi32(d1[i], hi, _mm512_set1_epi32(a[8]));
      }
    }
    for (int i = 0; i < kNt; ++i) {
      const __m512i ik = _mm512_add_epi32(_mm512_mullo_epi32(d0[i], u.sc[2 * k]),
                                          _mm512_mullo_epi32(d1[i], u.sc[2 * k + 1]));
      int32_t bpair;
      std::memcpy(&bpair, bs[i] + 2 * k, 4);
      const __m512i mk = _mm512_madd_epi16(u.mins[k], _mm512_set1_epi32(bpair));
      if constexpr (kGemm) {
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ik), p[i], acc[i]);
        accm[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mk), q[i], accm[i]);
      } else {
        isum[i] = _mm512_add_epi32(isum[i], ik);
        msum[i] = _mm512_add_epi32(msum[i], mk);
      }
    }
  }
  if constexpr (!kGemm) {
    for (int i = 0; i < kNt; ++i) {
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), p[i], acc[i]);
      accm[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[i]), q[i], accm[i]);
    }
  }
}

constexpr size_t kCacheLine = 64;

// A forward stream of cache-line prefetches over [p, end), `step` bytes per
// call of Next.
//
// A tile reads its 16 rows side by side, 16 strided streams that the
// hardware prefetchers follow poorly when the weights come from DRAM (decode,
// N=65536 K=3072, 2 threads: 16 GB/s against 52 for kernels::MatMul, which
// reads rows one after another). So while a tile runs, the next tile's rows
// (contiguous bytes) are prefetched in address order, spread evenly over the
// tile's superblocks: one sequential stream, a tile ahead. Only a hint: no
// output can change.
struct Prefetcher {
  const uint8_t* p;
  const uint8_t* end;
  size_t step;
  SOV_VNNI512 inline void Next() {
    for (const uint8_t* e = std::min(p + step, end); p < e; p += kCacheLine)
      _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
  }
};

// The prefetch stream for the tile after rows [n, n + rows): rows
// [n + rows, n + 2 rows) clipped to the matrix. Rows past the caller's range
// belong to the next chunk, which this thread usually runs next; fetching
// them is harmless either way.
Prefetcher NextTilePrefetcher(const WeightView& w, int64_t n, int64_t rows, int64_t nb) {
  const int64_t next = std::min(n + rows, w.rows);
  const int64_t next_end = std::min(next + rows, w.rows);
  const size_t bytes = static_cast<size_t>(rows) * w.row_bytes;
  const size_t per_block = (bytes + nb - 1) / nb;
  return {w.row(next), w.row(next_end), (per_block + kCacheLine - 1) / kCacheLine * kCacheLine};
}

// Rows n..n+15 against tokens [t0, t0 + nt), nt <= kTokenChunk.
template <bool kGemm>
SOV_VNNI512 void Tile16(const WeightView& w, int64_t n, const Act& act, int64_t t0, int nt,
                        float* y, int64_t ldy) {
  __m512 acc[kTokenChunk], accm[kTokenChunk];
  for (int t = 0; t < nt; ++t) acc[t] = accm[t] = _mm512_setzero_ps();
  Rows16 u;
  Prefetcher pf = NextTilePrefetcher(w, n, 16, act.nb);
  for (int64_t b = 0; b < act.nb; ++b) {
    pf.Next();
    Unpack16(w, n, b, &u);
    int t = 0;
    for (; t + 4 <= nt; t += 4) Tokens16<kGemm, 4>(u, act, t0 + t, b, acc + t, accm + t);
    switch (nt - t) {
      case 3:
        Tokens16<kGemm, 3>(u, act, t0 + t, b, acc + t, accm + t);
        break;
      case 2:
        Tokens16<kGemm, 2>(u, act, t0 + t, b, acc + t, accm + t);
        break;
      case 1:
        Tokens16<kGemm, 1>(u, act, t0 + t, b, acc + t, accm + t);
        break;
      default:
        break;
    }
  }
  for (int t = 0; t < nt; ++t)
    _mm512_storeu_ps(y + (t0 + t) * ldy + n, _mm512_sub_ps(acc[t], accm[t]));
}

// Rows n..n+15 against kNt <= 3 tokens from t0 in the gemv order (the
// tokens past the last whole group of four, so decode's single token). With
// so few tokens nothing amortizes Rows16's stored unpack, so each half of
// the codes is transposed and consumed at once, in registers. The high
// nibbles are used in place (c & 0xF0 = 16 x code): the sums then come out
// as 16 I, exactly (|16 I| <= 16 x 8 x 32 x 15 x 127 x 63 < 2^29), and one
// arithmetic shift per superblock recovers I.
template <int kNt>
SOV_VNNI512 void Tile16Gemv(const WeightView& w, int64_t n, const Act& act, int64_t t0, float* y,
                            int64_t ldy) {
  __m512 acc[kNt], accm[kNt];
  for (int i = 0; i < kNt; ++i) acc[i] = accm[i] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m4h = _mm512_set1_epi8(static_cast<char>(0xF0));
  Prefetcher pf = NextTilePrefetcher(w, n, 16, act.nb);
  for (int64_t b = 0; b < act.nb; ++b) {
    pf.Next();
    Headers16 u;
    LoadHeaders16(w, n, b, &u);
    const BlockQ8_K* ab[kNt];
    __m512i isum16[kNt], msum[kNt];
    for (int i = 0; i < kNt; ++i) {
      ab[i] = &act.row(t0 + i)[b];
      isum16[i] = msum[i] = _mm512_setzero_si512();
    }
    for (int h = 0; h < 2; ++h) {
      __m512i r[16];
      LoadCodes16(w, n, b, h, r);
      for (int kk = 0; kk < 2; ++kk) {
        const int k = 2 * h + kk;
        __m512i d0[kNt], d1[kNt];
        for (int i = 0; i < kNt; ++i) d0[i] = d1[i] = _mm512_setzero_si512();
        for (int pp = 0; pp < 8; ++pp) {
          const __m512i lo = _mm512_and_si512(r[8 * kk + pp], m4);
          const __m512i hi = _mm512_and_si512(r[8 * kk + pp], m4h);
          for (int i = 0; i < kNt; ++i) {
            const auto* a = reinterpret_cast<const UnalignedI32*>(ab[i]->qs + 64 * k + 4 * pp);
            d0[i] = _mm512_dpbusd_epi32(d0[i], lo, _mm512_set1_epi32(a[0]));
            d1[i] = _mm512_dpbusd_epi32(d1[i], hi, _mm512_set1_epi32(a[8]));
          }
        }
        const __m512i sc0x16 = _mm512_slli_epi32(u.sc[2 * k], 4);
        for (int i = 0; i < kNt; ++i) {
          isum16[i] = _mm512_add_epi32(isum16[i], _mm512_add_epi32(_mm512_mullo_epi32(d0[i], sc0x16),
                                                                   _mm512_mullo_epi32(d1[i], u.sc[2 * k + 1])));
          int32_t bpair;
          std::memcpy(&bpair, act.sums(t0 + i) + 8 * b + 2 * k, 4);
          msum[i] = _mm512_add_epi32(msum[i], _mm512_madd_epi16(u.mins[k], _mm512_set1_epi32(bpair)));
        }
      }
    }
    for (int i = 0; i < kNt; ++i) {
      const __m512 ad = _mm512_set1_ps(ab[i]->d);
      const __m512 p = _mm512_mul_ps(u.d, ad), q = _mm512_mul_ps(u.dmin, ad);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(isum16[i], 4)), p, acc[i]);
      accm[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[i]), q, accm[i]);
    }
  }
  for (int i = 0; i < kNt; ++i)
    _mm512_storeu_ps(y + (t0 + i) * ldy + n, _mm512_sub_ps(acc[i], accm[i]));
}

// Rows [n0, n1) (multiples of 4), tokens [t0, t1) in one order.
template <bool kGemm>
void RowsFast(const WeightView& w, const Act& act, int64_t t0, int64_t t1, int64_t n0, int64_t n1,
              float* y, int64_t ldy) {
  for (int64_t tc = t0; tc < t1; tc += kTokenChunk) {
    const int nt = static_cast<int>(std::min<int64_t>(kTokenChunk, t1 - tc));
    int64_t n = n0;
    if (!kGemm && nt <= 3) {
      for (; n + 16 <= n1; n += 16) {
        if (nt == 1) Tile16Gemv<1>(w, n, act, tc, y, ldy);
        if (nt == 2) Tile16Gemv<2>(w, n, act, tc, y, ldy);
        if (nt == 3) Tile16Gemv<3>(w, n, act, tc, y, ldy);
      }
    }
    for (; n + 16 <= n1; n += 16) Tile16<kGemm>(w, n, act, tc, nt, y, ldy);
    for (; n < n1; n += 4) Tile<kGemm>(w, n, act, tc, nt, y, ldy);
  }
}

#undef SOV_VNNI512

}  // namespace

bool GgmlMatMulQ4KSupports(const WeightView& w) {
  return w.dtype == DType::kQ4_K && w.rows % 8 == 0 && w.cols % kQK_K == 0;
}

bool GgmlMatMulQ4KFastAvailable() { return CpuHasVnni(); }
void SetGgmlMatMulQ4KFastEnabled(bool enabled) { g_fast_enabled.store(enabled); }

void QuantizeRowQ8KGgml4(const float* x, int64_t k, BlockQ8_K* y) {
  SOV_CHECK(k % kQK_K == 0) << "QuantizeRowQ8KGgml4: " << k << " values is not whole superblocks";
  QuantizeActRowQ8K(x, k, y);
  for (int64_t b = 0; b < k / kQK_K; ++b) {
    // The row rule chose a negative max (so d > 0); the 4-row rule picks the
    // positive scale sign whenever +amax occurs anywhere in the block.
    if (!(y[b].d > 0.0f)) continue;
    const float* xb = x + b * kQK_K;
    float amax = 0.0f;
    for (int i = 0; i < kQK_K; ++i) amax = std::max(amax, std::fabs(xb[i]));
    if (!std::isfinite(amax)) continue;
    bool has_pos = false;
    for (int i = 0; i < kQK_K; ++i) has_pos |= xb[i] == amax;
    if (!has_pos) continue;
    // Rounding to nearest even is symmetric and |q| <= 127, so negating the
    // bytes is exactly quantizing with the negated scale.
    y[b].d = -y[b].d;
    for (auto& q : y[b].qs) q = static_cast<int8_t>(-q);
    for (auto& s : y[b].bsums) s = static_cast<int16_t>(-s);
  }
}

void GgmlMatMulQ4K(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                   int64_t ldy) {
  SOV_CHECK(GgmlMatMulQ4KSupports(w)) << "GgmlMatMulQ4K: weight type " << Name(w.dtype) << " with "
                                      << w.rows << " rows is not Q4_K with a multiple of 8 rows";
  const int64_t K = w.cols, N = w.rows, nb = K / kQK_K;
  const int64_t tg = GemmRows(T);

  // Activations to Q8_K once per call (rows below tg with the 4-row rule),
  // plus the 32-element sums the mins need.
  std::vector<BlockQ8_K> act(static_cast<size_t>(T * nb));
  std::vector<int16_t> sums(static_cast<size_t>(T * nb * 8));
  ParallelFor(T, 4, [&](int64_t ta, int64_t tb) {
    for (int64_t t = ta; t < tb; ++t) {
      BlockQ8_K* row = act.data() + t * nb;
      if (t < tg) {
        QuantizeRowQ8KGgml4(x + t * ldx, K, row);
      } else {
        QuantizeActRowQ8K(x + t * ldx, K, row);
      }
      for (int64_t b = 0; b < nb; ++b)
        for (int j = 0; j < 8; ++j)
          sums[(t * nb + b) * 8 + j] =
              static_cast<int16_t>(row[b].bsums[2 * j] + row[b].bsums[2 * j + 1]);
    }
  });
  const Act a{act.data(), sums.data(), nb};
  const bool fast = g_fast_enabled.load() && CpuHasVnni();

  // Rows in chunks of up to 32, split in groups of 16 (the fast tile; the
  // last group may hold 8); each output is computed whole by one task, so the
  // split cannot change results.
  constexpr int64_t kGroupsPerChunk = 2;
  ParallelFor((N + 15) / 16, kGroupsPerChunk, [&](int64_t g0, int64_t g1) {
    const int64_t n0 = 16 * g0, n1 = std::min(N, 16 * g1);
    if (fast) {
      RowsFast<true>(w, a, 0, tg, n0, n1, y, ldy);
      RowsFast<false>(w, a, tg, T, n0, n1, y, ldy);
      return;
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = n0; n < n1; ++n) {
        const auto* wr = reinterpret_cast<const BlockQ4_K*>(w.row(n));
        y[t * ldy + n] = DotPortable(wr, a.row(t), nb, t < tg);
      }
    }
  });
}

}  // namespace sov::kernels::internal
