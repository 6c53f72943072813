// Prefill GEMM for Q4_K / Q5_K / Q6_K on AVX512-VNNI (see qgemm.h). Highway
// 1.0.3 has no op for vpdpbusd / vpdpwssd, hence intrinsics, behind the same
// runtime CPU check as qmatmul.cc's VNNI kernels.
//
// Why the results equal qmatmul.h's contract bitwise:
//  * Integers: per output and block, sumi / summ are sums of exact integer
//    products whose every partial sum stays far inside int32 (bounds below),
//    so the order in which vpdpbusd / vpmulld / vpdpwssd add them is free.
//  * Floats: each vector lane is one output; per block the lane does exactly
//    CombineBlockKF / CombineBlockQ6KF (same operands, same order, one
//    rounding per step), with an empty asm on each product so GCC cannot
//    contract a product into an FMA (the generic-vector forms of
//    _mm512_mul_ps / _mm512_add_ps are contractible, like the scalar ones).
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
// Q6_K: quants stored as u = q + 32 (0..63); int32 group scales (16 vectors);
// the -32 as int16 pairs (-32 sc_2p, -32 sc_2p+1) (8 vectors, against
// bsums[2p], bsums[2p+1]); fp32 d.
constexpr int kQ6Scales = 64, kQ6Corr = 80, kQ6D = 88, kQ6Vecs = 89;

int VecsPerBlock(DType t) { return t == DType::kQ6_K ? kQ6Vecs : kK45Vecs; }

inline int32_t LoadI32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- unpacking one panel ---------------------------------------------------------

// Element-order quants of one block of one row -> lane r of the 64 quant vectors.
inline void InterleaveRow(const uint8_t* u, int r, uint8_t* blk) {
  for (int v = 0; v < kQuantVecs; ++v) std::memcpy(blk + 64 * v + 4 * r, u + 4 * v, 4);
}

template <class T>
inline void SetLane(uint8_t* blk, int vec, int r, T value) {
  static_assert(sizeof(T) == 4);
  std::memcpy(blk + 64 * vec + 4 * r, &value, 4);
}

// Q4_K / Q5_K: element 32j + e of a block is nibble (j % 2) of qs[32 (j / 2) + e],
// plus for Q5_K bit j of qh[e] as the fifth bit.
template <bool kQ5>
void UnpackBlockK45(const uint8_t* xb, int r, uint8_t* blk) {
  const uint8_t *scales, *qs, *qh = nullptr;
  uint16_t d, dmin;
  if constexpr (kQ5) {
    const auto* x = reinterpret_cast<const BlockQ5_K*>(xb);
    scales = x->scales, qs = x->qs, qh = x->qh, d = x->d, dmin = x->dmin;
  } else {
    const auto* x = reinterpret_cast<const BlockQ4_K*>(xb);
    scales = x->scales, qs = x->qs, d = x->d, dmin = x->dmin;
  }
  uint8_t u[kQK_K];
  for (int j = 0; j < 8; ++j) {
    const uint8_t* q = qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int e = 0; e < 32; ++e) {
      int v = (q[e] >> shift) & 0xF;
      if constexpr (kQ5) v |= ((qh[e] >> j) & 1) << 4;
      u[32 * j + e] = static_cast<uint8_t>(v);
    }
    uint8_t sc, m;
    GetScaleMinK4(j, scales, &sc, &m);
    SetLane(blk, kK45Scales + j, r, int32_t{sc});
    SetLane(blk, kK45Mins + j, r, uint32_t{m} | (uint32_t{m} << 16));
  }
  InterleaveRow(u, r, blk);
  SetLane(blk, kK45D, r, Fp16ToFp32(d));
  SetLane(blk, kK45Dmin, r, Fp16ToFp32(dmin));
}

// Q6_K: per half h, l < 32: elements 128h + l + 32k, k = 0..3, from the low
// and high nibbles of ql[64h + l (+32)] and bit pairs of qh[32h + l].
void UnpackBlockQ6K(const uint8_t* xb, int r, uint8_t* blk) {
  const auto* x = reinterpret_cast<const BlockQ6_K*>(xb);
  uint8_t u[kQK_K];
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = x->ql + 64 * h;
    const uint8_t* qh = x->qh + 32 * h;
    uint8_t* o = u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  InterleaveRow(u, r, blk);
  for (int g = 0; g < 16; ++g) SetLane(blk, kQ6Scales + g, r, int32_t{x->scales[g]});
  for (int p = 0; p < 8; ++p) {
    const auto lo = static_cast<uint16_t>(-32 * x->scales[2 * p]);
    const auto hi = static_cast<uint16_t>(-32 * x->scales[2 * p + 1]);
    SetLane(blk, kQ6Corr + p, r, uint32_t{lo} | (uint32_t{hi} << 16));
  }
  SetLane(blk, kQ6D, r, Fp16ToFp32(x->d));
}

// Rows n0 .. n0 + rows - 1 of w into `dst` (nb blocks of VecsPerBlock vectors);
// lanes of missing rows (the last panel) are zero and never stored.
void UnpackPanel(const WeightView& w, int64_t n0, int rows, int64_t nb, uint8_t* dst) {
  const int vecs = VecsPerBlock(w.dtype);
  const size_t bsz = RowBytes(w.dtype, kQK_K);
  if (rows < kPanel) std::memset(dst, 0, static_cast<size_t>(nb) * vecs * 64);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = w.row(n0 + r);
    for (int64_t i = 0; i < nb; ++i) {
      uint8_t* blk = dst + static_cast<size_t>(i) * vecs * 64;
      const uint8_t* xb = row + bsz * i;
      switch (w.dtype) {
        case DType::kQ4_K:
          UnpackBlockK45<false>(xb, r, blk);
          break;
        case DType::kQ5_K:
          UnpackBlockK45<true>(xb, r, blk);
          break;
        default:
          UnpackBlockQ6K(xb, r, blk);
          break;
      }
    }
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
      for (int t = 0; t < NT; ++t) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p[t], sc));
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
      for (int t = 0; t < NT; ++t) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p[t], sc));
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

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, size_t, float*, int64_t,
                        __mmask16);

template <int NT>
struct K45 {
  static constexpr TileFn fn = TileK45<NT>;
};
template <int NT>
struct Q6 {
  static constexpr TileFn fn = TileQ6K<NT>;
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

}  // namespace

bool QGemmSupports(DType t) {
  return (t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K) && CpuHasVnni512() &&
         QMatMulVnniActive();
}

void QGemm(const uint8_t* act, size_t arow, int64_t T, const WeightView& w, float* y,
           int64_t ldy) {
  SOV_CHECK(QGemmSupports(w.dtype)) << "QGemm: " << Name(w.dtype) << " not supported here";
  SOV_CHECK(w.cols % kQK_K == 0) << "QGemm: " << w.cols << " columns of " << Name(w.dtype)
                                 << " are not a multiple of " << kQK_K;
  static constexpr std::array<TileFn, kMaxTile> kK45Tiles = Tiles<K45>();
  static constexpr std::array<TileFn, kMaxTile> kQ6Tiles = Tiles<Q6>();
  const auto& tiles = w.dtype == DType::kQ6_K ? kQ6Tiles : kK45Tiles;
  const int64_t N = w.rows, nb = w.cols / kQK_K;
  const size_t panel_bytes = static_cast<size_t>(nb) * VecsPerBlock(w.dtype) * 64;
  const int64_t panels = (N + kPanel - 1) / kPanel;
  // One panel per task: each output is computed by one tile call in the
  // contract's block order, so the split cannot change results.
  ParallelFor(panels, 1, [&](int64_t p0, int64_t p1) {
    uint8_t* panel = Scratch(panel_bytes);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = p * kPanel;
      const int rows = static_cast<int>(std::min<int64_t>(kPanel, N - n0));
      UnpackPanel(w, n0, rows, nb, panel);
      const auto mask = static_cast<__mmask16>((1u << rows) - 1);
      for (int64_t t0 = 0; t0 < T; t0 += kMaxTile) {
        const int nt = static_cast<int>(std::min<int64_t>(kMaxTile, T - t0));
        tiles[nt - 1](panel, nb, act + arow * t0, arow, y + ldy * t0 + n0, ldy, mask);
      }
    }
  });
}

}  // namespace sov::kernels::internal
