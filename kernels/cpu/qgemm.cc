// Prefill GEMM for Q4_K / Q5_K / Q6_K and Q8_0 / Q4_0 / Q5_0 on AVX512-VNNI
// (see qgemm.h). Highway 1.0.3 has no op for vpdpbusd / vpdpwssd, hence
// intrinsics, behind the same runtime CPU check as qmatmul.cc's VNNI kernels.
//
// Why the results equal qmatmul.h's contract bitwise:
//  * Integers: per output and block, sumi / summ are sums of exact integer
//    products whose every partial sum stays far inside int32 (bounds below),
//    so the order in which vpdpbusd / vpmulld / vpdpwssd add them is free.
//  * Floats: each vector lane is one output; per block the lane does exactly
//    CombineBlockKF / CombineBlockQ6KF / CombineBlockQ8_0 (same operands,
//    same order, one rounding per step), with an empty asm on each product so
//    GCC cannot contract a product into an FMA (the generic-vector forms of
//    _mm512_mul_ps / _mm512_add_ps are contractible, like the scalar ones;
//    qgemm_test fails without the asm).
#include "kernels/cpu/qgemm.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/cpu/qmatmul.h"
#include "kernels/parallel.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "runtime/check.h"

// GCC 12 reports the _mm512_undefined_ps inside _mm512_cvtepi32_ps as "maybe
// uninitialized" once the tiles are inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sov::kernels::internal {
namespace {

#define SOV_VNNI512 __attribute__((target("avx2,f16c,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kPanel = 16;   // weight rows per panel: the int32 lanes of a zmm
constexpr int kMaxTile = 8;  // tokens per register tile

// Panel scratch, per 256-element super-block, in 64-byte vectors. The first
// 64 vectors are the quants for every type: vector v holds elements 4v..4v+3
// of the block for rows 0..15 (row r at bytes 4r..4r+3), unsigned.
constexpr int kQuantVecs = 64;
// Q4_K / Q5_K: int32 sub-block scales sc_j (8 vectors), mins as int16 pairs
// (m_j, m_j) (8 vectors: vpdpwssd against bsums[2j], bsums[2j+1] gives
// m_j (bsums[2j] + bsums[2j+1])), fp32 d, fp32 dmin.
constexpr int kK45Scales = 64, kK45Mins = 72, kK45D = 80, kK45Dmin = 81, kK45Vecs = 82;
// Q6_K: quants as the unsigned 6-bit u (q = u - 32); int32 group scales (16 vectors);
// the -32 as int16 pairs (-32 sc_2p, -32 sc_2p+1) (8 vectors, against
// bsums[2p], bsums[2p+1]); fp32 d.
constexpr int kQ6Scales = 64, kQ6Corr = 80, kQ6D = 88, kQ6Vecs = 89;

// Q8_0 / Q4_0 / Q5_0 (32-element blocks, Q8_0 activations): a unit is a group
// of 8 blocks, the 64 quant vectors (block b of the group: vectors 8b..8b+7)
// stored unsigned (u = q + 128, the nibble, the nibble | fifth bit), then 8
// vectors of fp32 d. The signed value is u - kOffset; the -kOffset * sum(a)
// comes from the activation row's qsum table.
constexpr int kQ8GroupBlocks = 8, kQ8D = 64, kQ8Vecs = 72;

bool IsQ8Family(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ5_0; }

int VecsPerUnit(DType t) {
  if (IsQ8Family(t)) return kQ8Vecs;
  return t == DType::kQ6_K ? kQ6Vecs : kK45Vecs;
}

inline int32_t LoadI32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- unpacking one panel ---------------------------------------------------------
//
// Per block: each row's 256 quants are decoded in element order (four 64-byte
// vectors per row, into a 16 x 256-byte staging tile), then four 16 x 16
// dword transposes turn the tile's rows into the lanes of the 64 quant vectors.
// The scales go lane by lane (a few dozen scalar stores per row and block).

template <class T>
inline void SetLane(uint8_t* blk, int vec, int r, T value) {
  static_assert(sizeof(T) == 4);
  std::memcpy(blk + 64 * vec + 4 * r, &value, 4);
}

// Per-int16 shift counts: s0 for the low 256 bits, s1 for the high 256 bits.
SOV_VNNI512 inline __m512i HalfShifts(int s0, int s1) {
  return _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(static_cast<int16_t>(s0)),
                                 _mm512_set1_epi16(static_cast<int16_t>(s1)));
}

// Bits (s0 of the low half, s1 of the high half) of each byte of h, as
// `mask << 4`. Masking before the shift back keeps every bit in its byte.
SOV_VNNI512 inline __m512i HighBits(__m512i h, int s0, int s1, int mask) {
  const __m512i b = _mm512_and_si512(_mm512_srlv_epi16(h, HalfShifts(s0, s1)),
                                     _mm512_set1_epi8(static_cast<char>(mask)));
  return _mm512_slli_epi16(b, 4);
}

// Q4_K / Q5_K: element 32j + e of a block is nibble (j % 2) of qs[32 (j / 2) + e],
// plus for Q5_K bit j of qh[e] as the fifth bit. One 64-byte load of qs holds
// sub-blocks 4c..4c+3: low nibbles = (4c, 4c+2), high nibbles = (4c+1, 4c+3).
template <bool kQ5>
SOV_VNNI512 inline void DecodeK45(const uint8_t* qs, const uint8_t* qh, uint8_t* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512i h = _mm512_setzero_si512();
  if constexpr (kQ5)
    h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)));
  for (int c = 0; c < 2; ++c) {
    const __m512i q = _mm512_loadu_si512(qs + 64 * c);
    const __m512i lo = _mm512_and_si512(q, m4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    __m512i e0 = _mm512_shuffle_i64x2(lo, hi, 0x44);  // sub-blocks 4c, 4c + 1
    __m512i e1 = _mm512_shuffle_i64x2(lo, hi, 0xEE);  // sub-blocks 4c + 2, 4c + 3
    if constexpr (kQ5) {
      e0 = _mm512_or_si512(e0, HighBits(h, 4 * c, 4 * c + 1, 1));
      e1 = _mm512_or_si512(e1, HighBits(h, 4 * c + 2, 4 * c + 3, 1));
    }
    _mm512_store_si512(out + 128 * c, e0);
    _mm512_store_si512(out + 128 * c + 64, e1);
  }
}

// Q6_K: per half h, l < 32: elements 128h + l + 32k, k = 0..3, from the low
// (k = 0, 1) and high (k = 2, 3) nibbles of ql[64h + l + 32 (k % 2)] and bits
// 2k, 2k + 1 of qh[32h + l]; stored unsigned (u = q + 32).
SOV_VNNI512 inline void DecodeQ6K(const BlockQ6_K& x, uint8_t* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    const __m512i l = _mm512_loadu_si512(x.ql + 64 * h);
    const __m512i hb =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h)));
    const __m512i lo = _mm512_or_si512(_mm512_and_si512(l, m4), HighBits(hb, 0, 2, 3));
    const __m512i hi =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), HighBits(hb, 4, 6, 3));
    _mm512_store_si512(out + 128 * h, lo);
    _mm512_store_si512(out + 128 * h + 64, hi);
  }
}

// out[k] lane r = dword k of in[r] (in[r]: 64 bytes at tile + 256 r).
SOV_VNNI512 inline void Transpose16x16(const uint8_t* tile, __m512i* out) {
  __m512i a[16], b[16];
  for (int r = 0; r < 16; ++r) a[r] = _mm512_load_si512(tile + 256 * r);
  for (int i = 0; i < 8; ++i) {
    b[2 * i] = _mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]);
    b[2 * i + 1] = _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]);
  }
  // a[4i + m], 128-bit lane L: dword 4L + m of rows 4i .. 4i + 3.
  for (int i = 0; i < 4; ++i) {
    a[4 * i + 0] = _mm512_unpacklo_epi64(b[4 * i], b[4 * i + 2]);
    a[4 * i + 1] = _mm512_unpackhi_epi64(b[4 * i], b[4 * i + 2]);
    a[4 * i + 2] = _mm512_unpacklo_epi64(b[4 * i + 1], b[4 * i + 3]);
    a[4 * i + 3] = _mm512_unpackhi_epi64(b[4 * i + 1], b[4 * i + 3]);
  }
  // Gather 128-bit lane L of a[m], a[4 + m], a[8 + m], a[12 + m] into out[4L + m].
  for (int m = 0; m < 4; ++m) {
    const __m512i v0 = _mm512_shuffle_i32x4(a[m], a[4 + m], 0x44);
    const __m512i v1 = _mm512_shuffle_i32x4(a[m], a[4 + m], 0xEE);
    const __m512i w0 = _mm512_shuffle_i32x4(a[8 + m], a[12 + m], 0x44);
    const __m512i w1 = _mm512_shuffle_i32x4(a[8 + m], a[12 + m], 0xEE);
    _mm512_store_si512(out + m, _mm512_shuffle_i32x4(v0, w0, 0x88));
    _mm512_store_si512(out + 4 + m, _mm512_shuffle_i32x4(v0, w0, 0xDD));
    _mm512_store_si512(out + 8 + m, _mm512_shuffle_i32x4(v1, w1, 0x88));
    _mm512_store_si512(out + 12 + m, _mm512_shuffle_i32x4(v1, w1, 0xDD));
  }
}

inline void ScalesK45(const uint8_t* scales, uint16_t d, uint16_t dmin, int r, uint8_t* blk) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, scales, &sc, &m);
    SetLane(blk, kK45Scales + j, r, int32_t{sc});
    SetLane(blk, kK45Mins + j, r, uint32_t{m} | (uint32_t{m} << 16));
  }
  SetLane(blk, kK45D, r, Fp16ToFp32(d));
  SetLane(blk, kK45Dmin, r, Fp16ToFp32(dmin));
}

inline void ScalesQ6K(const BlockQ6_K& x, int r, uint8_t* blk) {
  for (int g = 0; g < 16; ++g) SetLane(blk, kQ6Scales + g, r, int32_t{x.scales[g]});
  for (int p = 0; p < 8; ++p) {
    const auto lo = static_cast<uint16_t>(-32 * x.scales[2 * p]);
    const auto hi = static_cast<uint16_t>(-32 * x.scales[2 * p + 1]);
    SetLane(blk, kQ6Corr + p, r, uint32_t{lo} | (uint32_t{hi} << 16));
  }
  SetLane(blk, kQ6D, r, Fp16ToFp32(x.d));
}

// Rows n0 .. n0 + rows - 1 of w into `dst` (nb blocks of VecsPerUnit vectors);
// lanes of missing rows (the last panel) are zero and never stored.
SOV_VNNI512 void UnpackPanel(const WeightView& w, int64_t n0, int rows, int64_t nb, uint8_t* dst) {
  const int vecs = VecsPerUnit(w.dtype);
  const size_t bsz = RowBytes(w.dtype, kQK_K);
  alignas(64) uint8_t tile[kPanel * kQK_K];
  if (rows < kPanel) {
    std::memset(dst, 0, static_cast<size_t>(nb) * vecs * 64);
    std::memset(tile, 0, sizeof(tile));
  }
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t* blk = dst + static_cast<size_t>(i) * vecs * 64;
    for (int r = 0; r < rows; ++r) {
      const uint8_t* xb = w.row(n0 + r) + bsz * i;
      uint8_t* u = tile + kQK_K * r;
      switch (w.dtype) {
        case DType::kQ4_K: {
          const auto& x = *reinterpret_cast<const BlockQ4_K*>(xb);
          DecodeK45<false>(x.qs, nullptr, u);
          ScalesK45(x.scales, x.d, x.dmin, r, blk);
          break;
        }
        case DType::kQ5_K: {
          const auto& x = *reinterpret_cast<const BlockQ5_K*>(xb);
          DecodeK45<true>(x.qs, x.qh, u);
          ScalesK45(x.scales, x.d, x.dmin, r, blk);
          break;
        }
        default: {
          const auto& x = *reinterpret_cast<const BlockQ6_K*>(xb);
          DecodeQ6K(x, u);
          ScalesQ6K(x, r, blk);
          break;
        }
      }
    }
    for (int c = 0; c < 4; ++c)
      Transpose16x16(tile + 64 * c, reinterpret_cast<__m512i*>(blk) + 16 * c);
  }
}

// 32 quants of one Q8_0 / Q4_0 / Q5_0 block, unsigned, in element order.
SOV_VNNI512 inline void DecodeQ8Family(DType t, const uint8_t* xb, uint8_t* out) {
  __m256i u;
  if (t == DType::kQ8_0) {
    const auto& x = *reinterpret_cast<const BlockQ8_0*>(xb);
    u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)),
                         _mm256_set1_epi8(static_cast<char>(0x80)));
  } else {
    // Element j: low nibble of qs[j], element j + 16: its high nibble;
    // Q5_0 adds bit j of qh as the fifth bit.
    const uint8_t* qs = t == DType::kQ4_0 ? reinterpret_cast<const BlockQ4_0*>(xb)->qs
                                          : reinterpret_cast<const BlockQ5_0*>(xb)->qs;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    if (t == DType::kQ5_0) {
      const __mmask32 qh = LoadI32(reinterpret_cast<const BlockQ5_0*>(xb)->qh);
      u = _mm256_or_si256(u, _mm256_maskz_set1_epi8(qh, 0x10));
    }
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), u);
}

// Rows n0 .. n0 + rows - 1 of a Q8_0 / Q4_0 / Q5_0 matrix (nb blocks) into
// ceil(nb / 8) groups of kQ8Vecs vectors; blocks past nb and missing rows are
// zero (the tiles never read the former, never store the latter).
SOV_VNNI512 void UnpackPanelQ8(const WeightView& w, int64_t n0, int rows, int64_t nb,
                               uint8_t* dst) {
  const size_t bsz = RowBytes(w.dtype, kQK);
  const int64_t groups = (nb + kQ8GroupBlocks - 1) / kQ8GroupBlocks;
  alignas(64) uint8_t tile[kPanel * kQK_K];
  if (rows < kPanel || nb % kQ8GroupBlocks != 0) {
    std::memset(dst, 0, static_cast<size_t>(groups) * kQ8Vecs * 64);
    std::memset(tile, 0, sizeof(tile));
  }
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* grp = dst + static_cast<size_t>(g) * kQ8Vecs * 64;
    const int blocks = static_cast<int>(std::min<int64_t>(kQ8GroupBlocks, nb - g * kQ8GroupBlocks));
    if (blocks < kQ8GroupBlocks) std::memset(tile, 0, sizeof(tile));
    for (int r = 0; r < rows; ++r) {
      const uint8_t* row = w.row(n0 + r) + bsz * kQ8GroupBlocks * g;
      for (int b = 0; b < blocks; ++b) {
        const uint8_t* xb = row + bsz * b;
        DecodeQ8Family(w.dtype, xb, tile + kQK_K * r + kQK * b);
        uint16_t d;
        std::memcpy(&d, xb, 2);  // every block of the family starts with fp16 d
        SetLane(grp, kQ8D + b, r, Fp16ToFp32(d));
      }
    }
    for (int c = 0; c < 4; ++c)
      Transpose16x16(tile + 64 * c, reinterpret_cast<__m512i*>(grp) + 16 * c);
  }
}

// ---- register tiles: 16 rows x NT tokens --------------------------------------------

SOV_VNNI512 inline __m512 Materialize512(__m512 v) {
  asm("" : "+v"(v));
  return v;
}

SOV_VNNI512 inline __m512i Bcast(const void* p) { return _mm512_set1_epi32(LoadI32(p)); }

// Q4_K / Q5_K: per block, sumi = sum_j sc_j * (vpdpbusd over sub-block j),
// summ by vpdpwssd on the bsums; then CombineBlockKF per lane.
template <int NT>
SOV_VNNI512 void TileK45(const uint8_t* panel, int64_t nb, const uint8_t* act, size_t arow,
                         float* y, int64_t ldy, __mmask16 mask) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* wb = reinterpret_cast<const __m512i*>(panel) + i * kK45Vecs;
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act + arow * t) + i;
    __m512i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i p[NT];
      for (int t = 0; t < NT; ++t) p[t] = _mm512_setzero_si512();
      for (int g = 0; g < 8; ++g) {
        const __m512i q = _mm512_load_si512(wb + 8 * j + g);
        for (int t = 0; t < NT; ++t)
          p[t] = _mm512_dpbusd_epi32(p[t], q, Bcast(a[t]->qs + 32 * j + 4 * g));
      }
      const __m512i sc = _mm512_load_si512(wb + kK45Scales + j);
      for (int t = 0; t < NT; ++t)
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p[t], sc));
    }
    __m512i summ[NT];
    for (int t = 0; t < NT; ++t) summ[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      const __m512i mn = _mm512_load_si512(wb + kK45Mins + j);
      for (int t = 0; t < NT; ++t)
        summ[t] = _mm512_dpwssd_epi32(summ[t], mn, Bcast(a[t]->bsums + 2 * j));
    }
    const __m512 xd = _mm512_load_ps(wb + kK45D), xdmin = _mm512_load_ps(wb + kK45Dmin);
    for (int t = 0; t < NT; ++t) {
      const __m512 ad = _mm512_set1_ps(a[t]->d);
      const __m512 d = _mm512_mul_ps(xd, ad);
      const __m512 m = _mm512_mul_ps(xdmin, ad);
      const __m512 pos = Materialize512(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi[t])));
      const __m512 neg = Materialize512(_mm512_mul_ps(m, _mm512_cvtepi32_ps(summ[t])));
      acc[t] = _mm512_add_ps(acc[t], pos);
      acc[t] = _mm512_sub_ps(acc[t], neg);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + ldy * t, mask, acc[t]);
}

// Q6_K: per block, sumi = sum_g sc_g * (vpdpbusd of u over group g)
//                        + sum_p vpdpwssd((-32 sc_2p, -32 sc_2p+1), (bsums[2p], bsums[2p+1])),
// which is sum_g sc_g sum_{e in g} (u_e - 32) a_e; then CombineBlockQ6KF.
// Bounds: |vpdpbusd group| <= 16 * 63 * 127, times |sc| <= 128, 16 groups:
// < 2^29; the correction likewise < 2^28.
template <int NT>
SOV_VNNI512 void TileQ6K(const uint8_t* panel, int64_t nb, const uint8_t* act, size_t arow,
                         float* y, int64_t ldy, __mmask16 mask) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* wb = reinterpret_cast<const __m512i*>(panel) + i * kQ6Vecs;
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act + arow * t) + i;
    __m512i sumi[NT];
    for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
    for (int g = 0; g < 16; ++g) {
      __m512i p[NT];
      for (int t = 0; t < NT; ++t) p[t] = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        const __m512i q = _mm512_load_si512(wb + 4 * g + k);
        for (int t = 0; t < NT; ++t)
          p[t] = _mm512_dpbusd_epi32(p[t], q, Bcast(a[t]->qs + 16 * g + 4 * k));
      }
      const __m512i sc = _mm512_load_si512(wb + kQ6Scales + g);
      for (int t = 0; t < NT; ++t)
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p[t], sc));
    }
    for (int p = 0; p < 8; ++p) {
      const __m512i c = _mm512_load_si512(wb + kQ6Corr + p);
      for (int t = 0; t < NT; ++t)
        sumi[t] = _mm512_dpwssd_epi32(sumi[t], c, Bcast(a[t]->bsums + 2 * p));
    }
    const __m512 xd = _mm512_load_ps(wb + kQ6D);
    for (int t = 0; t < NT; ++t) {
      const __m512 d = _mm512_mul_ps(xd, _mm512_set1_ps(a[t]->d));
      const __m512 pos = Materialize512(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi[t])));
      acc[t] = _mm512_add_ps(acc[t], pos);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + ldy * t, mask, acc[t]);
}

// Q8_0 / Q4_0 / Q5_0: per block, sumi = vpdpbusd over the 32 u's - kOffset *
// qsum (|sumi| <= 32 * 255 * 128 + 128 * 32 * 128, exact), then
// CombineBlockQ8_0 per lane with the activation row's widened d table.
template <int NT, int kOffset>
SOV_VNNI512 void TileQ8(const uint8_t* panel, int64_t nb, const uint8_t* act, size_t arow, float* y,
                        int64_t ldy, __mmask16 mask) {
  const size_t tables = ActTablesOffset(sizeof(BlockQ8_0), nb);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const auto* grp = reinterpret_cast<const __m512i*>(panel) + (i / kQ8GroupBlocks) * kQ8Vecs;
    const __m512i* wb = grp + (i % kQ8GroupBlocks) * 8;
    const uint8_t* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = act + arow * t;
    __m512i p[NT];
    for (int t = 0; t < NT; ++t) p[t] = _mm512_setzero_si512();
    for (int k = 0; k < 8; ++k) {
      const __m512i q = _mm512_load_si512(wb + k);
      for (int t = 0; t < NT; ++t)
        p[t] = _mm512_dpbusd_epi32(
            p[t], q, Bcast(a[t] + sizeof(BlockQ8_0) * i + offsetof(BlockQ8_0, qs) + 4 * k));
    }
    const __m512 xd = _mm512_load_ps(grp + kQ8D + i % kQ8GroupBlocks);
    for (int t = 0; t < NT; ++t) {
      const int32_t qsum = LoadI32(a[t] + tables + 4 * (nb + i));
      float ad;
      std::memcpy(&ad, a[t] + tables + 4 * i, 4);
      const __m512i sumi = _mm512_sub_epi32(p[t], _mm512_set1_epi32(kOffset * qsum));
      const __m512 d = _mm512_mul_ps(xd, _mm512_set1_ps(ad));
      const __m512 pos = Materialize512(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi)));
      acc[t] = _mm512_add_ps(acc[t], pos);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + ldy * t, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, size_t, float*, int64_t,
                        __mmask16);

template <int NT>
struct K45Tile {
  static constexpr TileFn fn = TileK45<NT>;
};
template <int NT>
struct Q6Tile {
  static constexpr TileFn fn = TileQ6K<NT>;
};
template <int NT>
struct Q8_0Tile {
  static constexpr TileFn fn = TileQ8<NT, 128>;
};
template <int NT>
struct Q4_0Tile {
  static constexpr TileFn fn = TileQ8<NT, 8>;
};
template <int NT>
struct Q5_0Tile {
  static constexpr TileFn fn = TileQ8<NT, 16>;
};

// Tile functions for 1..kMaxTile tokens (index nt - 1).
template <template <int> class F>
constexpr std::array<TileFn, kMaxTile> Tiles() {
  return {F<1>::fn, F<2>::fn, F<3>::fn, F<4>::fn, F<5>::fn, F<6>::fn, F<7>::fn, F<8>::fn};
}

bool CpuHasVnni512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

// Per-thread panel scratch, 64-byte aligned, grown on demand (a few hundred
// KiB at most for E2B's K = 12288).
uint8_t* Scratch(size_t bytes) {
  struct Buf {
    std::unique_ptr<uint8_t, decltype(&std::free)> p{nullptr, &std::free};
    size_t size = 0;
  };
  thread_local Buf buf;
  if (buf.size < bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    buf.p.reset(static_cast<uint8_t*>(std::aligned_alloc(64, rounded)));
    SOV_CHECK(buf.p != nullptr) << "QGemm: cannot allocate " << rounded << " bytes of scratch";
    buf.size = rounded;
  }
  return buf.p.get();
}

// The next panel's weight rows, pulled into L2 a slice per tile call while
// this panel computes: the unpack reads them once, straight from DRAM in a
// real model, and would otherwise stall on every line. (Consecutive panels
// mostly run on one thread: ParallelFor splits the range depth-first.)
class NextPanelPrefetch {
 public:
  NextPanelPrefetch(const WeightView& w, int64_t n0, int64_t slices) : w_(w), n0_(n0) {
    if (n0 >= w.rows) return;
    const int64_t rows = std::min<int64_t>(kPanel, w.rows - n0);
    lines_per_row_ = static_cast<int64_t>(RowBytes(w.dtype, w.cols) + 63) / 64 + 1;
    total_ = rows * lines_per_row_;
    per_slice_ = (total_ + slices - 1) / slices;
  }
  void Slice() {
    const int64_t end = std::min(total_, next_ + per_slice_);
    for (; next_ < end; ++next_) {
      const uint8_t* row = w_.row(n0_ + next_ / lines_per_row_);
      _mm_prefetch(reinterpret_cast<const char*>(row) + 64 * (next_ % lines_per_row_), _MM_HINT_T1);
    }
  }

 private:
  const WeightView& w_;
  int64_t n0_;
  int64_t lines_per_row_ = 1, total_ = 0, per_slice_ = 0, next_ = 0;
};

}  // namespace

bool QGemmSupports(DType t) {
  const bool type = t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K || IsQ8Family(t);
  return type && CpuHasVnni512() && QMatMulVnniActive();
}

void QGemm(const uint8_t* act, size_t arow, int64_t T, const WeightView& w, float* y, int64_t ldy) {
  SOV_CHECK(QGemmSupports(w.dtype)) << "QGemm: " << Name(w.dtype) << " not supported here";
  const bool q8 = IsQ8Family(w.dtype);
  const int64_t bs = q8 ? kQK : kQK_K;
  SOV_CHECK(w.cols % bs == 0) << "QGemm: " << w.cols << " columns of " << Name(w.dtype)
                              << " are not a multiple of " << bs;
  static constexpr std::array<TileFn, kMaxTile> kK45Tiles = Tiles<K45Tile>();
  static constexpr std::array<TileFn, kMaxTile> kQ6Tiles = Tiles<Q6Tile>();
  static constexpr std::array<TileFn, kMaxTile> kQ8_0Tiles = Tiles<Q8_0Tile>();
  static constexpr std::array<TileFn, kMaxTile> kQ4_0Tiles = Tiles<Q4_0Tile>();
  static constexpr std::array<TileFn, kMaxTile> kQ5_0Tiles = Tiles<Q5_0Tile>();
  const std::array<TileFn, kMaxTile>* tiles = &kK45Tiles;
  switch (w.dtype) {
    case DType::kQ6_K:
      tiles = &kQ6Tiles;
      break;
    case DType::kQ8_0:
      tiles = &kQ8_0Tiles;
      break;
    case DType::kQ4_0:
      tiles = &kQ4_0Tiles;
      break;
    case DType::kQ5_0:
      tiles = &kQ5_0Tiles;
      break;
    default:
      break;
  }
  const int64_t N = w.rows, nb = w.cols / bs;
  const int64_t units = q8 ? (nb + kQ8GroupBlocks - 1) / kQ8GroupBlocks : nb;
  const size_t panel_bytes = static_cast<size_t>(units) * VecsPerUnit(w.dtype) * 64;
  const int64_t panels = (N + kPanel - 1) / kPanel;
  // One panel per task: each output is computed by one tile call in the
  // contract's block order, so the split cannot change results.
  ParallelFor(panels, 1, [&](int64_t p0, int64_t p1) {
    uint8_t* panel = Scratch(panel_bytes);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = p * kPanel;
      const int rows = static_cast<int>(std::min<int64_t>(kPanel, N - n0));
      if (q8) {
        UnpackPanelQ8(w, n0, rows, nb, panel);
      } else {
        UnpackPanel(w, n0, rows, nb, panel);
      }
      const auto mask = static_cast<__mmask16>((1u << rows) - 1);
      NextPanelPrefetch prefetch(w, n0 + kPanel, (T + kMaxTile - 1) / kMaxTile);
      for (int64_t t0 = 0; t0 < T; t0 += kMaxTile) {
        const int nt = static_cast<int>(std::min<int64_t>(kMaxTile, T - t0));
        (*tiles)[nt - 1](panel, nb, act + arow * t0, arow, y + ldy * t0 + n0, ldy, mask);
        prefetch.Slice();
      }
    }
  });
}

}  // namespace sov::kernels::internal
