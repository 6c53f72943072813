// Integer MatMul row dots for Q4_0 / Q5_0 (Q8_0 activations) and Q4_1 / Q5_1
// (Q8_1 activations). Numerics in kernels/cpu/qmatmul.h: the portable dots
// are the scalar definitions of qmatmul_legacy.h; the VNNI dots form the same
// integers with vpdpbusd and take the same float steps.
#include "kernels/cpu/qmatmul_legacy.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/qmatmul.h"

namespace sov::kernels::internal {

// ---- portable ------------------------------------------------------------------

float RowDotQ4_0(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ4_0*>(wrow);
  const auto* a = static_cast<const BlockQ8_0*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ8_0(acc, x[i].d, a[i].d, IntPartQ4_0(x[i], a[i]));
  return acc;
}

float RowDotQ5_0(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ5_0*>(wrow);
  const auto* a = static_cast<const BlockQ8_0*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ8_0(acc, x[i].d, a[i].d, IntPartQ5_0(x[i], a[i]));
  return acc;
}

float RowDotQ4_1(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ4_1*>(wrow);
  const auto* a = static_cast<const BlockQ8_1*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ8_1(acc, x[i].d, x[i].m, a[i].d, a[i].s, IntPartQ4_1(x[i], a[i]));
  return acc;
}

float RowDotQ5_1(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ5_1*>(wrow);
  const auto* a = static_cast<const BlockQ8_1*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ8_1(acc, x[i].d, x[i].m, a[i].d, a[i].s, IntPartQ5_1(x[i], a[i]));
  return acc;
}

// ---- VNNI ----------------------------------------------------------------------

#define SOV_VNNI __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace {

// The 32 unsigned 4-bit values of a block in element order (low nibbles are
// elements 0..15, high nibbles 16..31).
SOV_VNNI inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

// 0x10 in byte e where bit e of qh is set: the 5th bit of each element.
SOV_VNNI inline __m256i FifthBits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return _mm256_maskz_mov_epi8(static_cast<__mmask32>(h), _mm256_set1_epi8(0x10));
}

SOV_VNNI inline __m256i ActQs(const int8_t* qs) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
}

// Unpack: the 32 unsigned weight values u of a block as bytes. Lanes: eight
// int32 lanes whose sum is sum_e u_e a_e, by vpdpbusd (u8 x s8, exact for
// every activation byte, -128 included). The _0 formats' offset is applied
// after the reduction as kOffset * qsum (the activation row's table).
struct Q4_0Fmt {
  using W = BlockQ4_0;
  using A = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kOffsetShift = 3;  // 8
  SOV_VNNI static __m256i Unpack(const W& x) { return Nibbles(x.qs); }
};

struct Q5_0Fmt {
  using W = BlockQ5_0;
  using A = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kOffsetShift = 4;  // 16
  SOV_VNNI static __m256i Unpack(const W& x) {
    return _mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh));
  }
};

struct Q4_1Fmt {
  using W = BlockQ4_1;
  using A = BlockQ8_1;
  static constexpr bool kMin = true;
  SOV_VNNI static __m256i Unpack(const W& x) { return Nibbles(x.qs); }
};

struct Q5_1Fmt {
  using W = BlockQ5_1;
  using A = BlockQ8_1;
  static constexpr bool kMin = true;
  SOV_VNNI static __m256i Unpack(const W& x) {
    return _mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh));
  }
};

template <class A>
SOV_VNNI inline __m256i Lanes(__m256i u, const A& a) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, ActQs(a.qs));
}

// Lane sums of up to 8 blocks reduced together by a hadd tree (integers,
// exact): element k is block k's integer.
SOV_VNNI inline __m256i Reduce8(const __m256i* p) {
  const __m256i t0 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
  const __m256i t1 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                          _mm256_permute2x128_si256(t0, t1, 0x31));
}

// N <= 8 consecutive fp16 fields (stride sizeof(B)) widened to f32 (exact);
// lanes from N on are 0. Built in a register (vpinsrw), not through memory,
// where eight 16-bit stores read back as one vector would stall forwarding.
template <int N, class B>
SOV_VNNI inline __m256 Halves8(const B* b, uint16_t B::*field) {
  auto h = [&](int k) { return k < N ? static_cast<short>(b[k].*field) : short{0}; };
  return _mm256_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7)));
}

template <int N, class F>
SOV_VNNI inline __m256 Mins8(const typename F::W* x) {
  if constexpr (F::kMin) {
    return Halves8<N, typename F::W>(x, &F::W::m);
  } else {
    return _mm256_setzero_ps();
  }
}

template <int N, class F>
SOV_VNNI inline void Unpack8(const typename F::W* x, __m256i* u) {
  for (int k = 0; k < 8; ++k) u[k] = k < N ? F::Unpack(x[k]) : _mm256_setzero_si256();
}

// One group of N <= 8 blocks for one token whose activation row starts at
// `row` (missing lanes are zero and never added): the block integers, then
// the products of the float steps, d = f16(x.d) * f16(a.d),
// d * float(sumi) (and f16(x.m) * f16(a.s)), one vector multiply each, so one
// rounding per lane as in CombineBlock*. The widened a.d, a.s and the qsums
// come from the row's tables (exact, see ActRowBytes).
template <int N, class F>
SOV_VNNI inline void GroupProducts(const __m256i* u, __m256 xd, __m256 xm, const uint8_t* row,
                                   int64_t nb, int64_t i, float* pos, float* mins) {
  using A = typename F::A;
  const A* a = reinterpret_cast<const A*>(row) + i;
  const uint8_t* tables = row + ActTablesOffset(sizeof(A), nb);
  constexpr __mmask8 kLanes = static_cast<__mmask8>((1u << N) - 1);
  __m256i p[8];
  for (int k = 0; k < 8; ++k) p[k] = k < N ? Lanes(u[k], a[k]) : _mm256_setzero_si256();
  __m256i sums = Reduce8(p);
  if constexpr (!F::kMin) {
    const __m256i qsum = _mm256_maskz_loadu_epi32(kLanes, tables + 4 * (nb + i));
    sums = _mm256_sub_epi32(sums, _mm256_slli_epi32(qsum, F::kOffsetShift));
  }
  const __m256 ad = _mm256_maskz_loadu_ps(kLanes, tables + 4 * i);
  _mm256_store_ps(pos, _mm256_mul_ps(_mm256_mul_ps(xd, ad), _mm256_cvtepi32_ps(sums)));
  if constexpr (F::kMin) {
    const __m256 as = _mm256_maskz_loadu_ps(kLanes, tables + 4 * (nb + i));
    _mm256_store_ps(mins, _mm256_mul_ps(xm, as));
  }
}

// T tokens (activation rows arow bytes apart) against blocks [i, i + N) of
// one weight row; each weight block is unpacked once for all of them. The
// sequential adds (block order within each token) run after all products,
// interleaved over the tokens.
template <int N, int T, class F>
SOV_VNNI inline void Groups(const typename F::W* x, const uint8_t* act, size_t arow, int64_t nb,
                            int64_t i, float* acc) {
  using W = typename F::W;
  __m256i u[8];
  Unpack8<N, F>(x + i, u);
  const __m256 xd = Halves8<N, W>(x + i, &W::d), xm = Mins8<N, F>(x + i);
  alignas(32) float pos[T][8], mins[T][8];
  for (int t = 0; t < T; ++t)
    GroupProducts<N, F>(u, xd, xm, act + arow * t, nb, i, pos[t], mins[t]);
  for (int k = 0; k < N; ++k) {
    for (int t = 0; t < T; ++t) {
      acc[t] = acc[t] + Materialize(pos[t][k]);
      if constexpr (F::kMin) acc[t] = acc[t] + Materialize(mins[t][k]);
    }
  }
}

// Blocks 8 at a time, then the last 1..7 (each count its own specialization).
template <int T, class F>
SOV_VNNI inline void RowDots(const void* wrow, const uint8_t* act, size_t arow, int64_t nb,
                             float* acc) {
  const auto* x = static_cast<const typename F::W*>(wrow);
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) Groups<8, T, F>(x, act, arow, nb, i, acc);
  switch (nb - i) {
    case 1:
      return Groups<1, T, F>(x, act, arow, nb, i, acc);
    case 2:
      return Groups<2, T, F>(x, act, arow, nb, i, acc);
    case 3:
      return Groups<3, T, F>(x, act, arow, nb, i, acc);
    case 4:
      return Groups<4, T, F>(x, act, arow, nb, i, acc);
    case 5:
      return Groups<5, T, F>(x, act, arow, nb, i, acc);
    case 6:
      return Groups<6, T, F>(x, act, arow, nb, i, acc);
    case 7:
      return Groups<7, T, F>(x, act, arow, nb, i, acc);
    default:
      return;
  }
}

template <class F>
SOV_VNNI float RowDotVnni(const void* wrow, const void* arow, int64_t nb) {
  float acc[1] = {0.0f};
  RowDots<1, F>(wrow, static_cast<const uint8_t*>(arow), 0, nb, acc);
  return acc[0];
}

// Per token the integers and float steps are those of RowDotVnni, so out[t]
// equals a single-token call bitwise.
template <class F>
SOV_VNNI void RowDotVnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb,
                          float* out) {
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  RowDots<4, F>(wrow, act, arow, nb, acc);
  for (int t = 0; t < 4; ++t) out[t] = acc[t];
}

}  // namespace

SOV_VNNI float RowDotQ4_0Vnni(const void* w, const void* a, int64_t nb) {
  return RowDotVnni<Q4_0Fmt>(w, a, nb);
}
SOV_VNNI float RowDotQ5_0Vnni(const void* w, const void* a, int64_t nb) {
  return RowDotVnni<Q5_0Fmt>(w, a, nb);
}
SOV_VNNI float RowDotQ4_1Vnni(const void* w, const void* a, int64_t nb) {
  return RowDotVnni<Q4_1Fmt>(w, a, nb);
}
SOV_VNNI float RowDotQ5_1Vnni(const void* w, const void* a, int64_t nb) {
  return RowDotVnni<Q5_1Fmt>(w, a, nb);
}

SOV_VNNI void RowDotQ4_0Vnni4(const void* w, const uint8_t* act, size_t arow, int64_t nb,
                              float* out) {
  RowDotVnni4<Q4_0Fmt>(w, act, arow, nb, out);
}
SOV_VNNI void RowDotQ5_0Vnni4(const void* w, const uint8_t* act, size_t arow, int64_t nb,
                              float* out) {
  RowDotVnni4<Q5_0Fmt>(w, act, arow, nb, out);
}
SOV_VNNI void RowDotQ4_1Vnni4(const void* w, const uint8_t* act, size_t arow, int64_t nb,
                              float* out) {
  RowDotVnni4<Q4_1Fmt>(w, act, arow, nb, out);
}
SOV_VNNI void RowDotQ5_1Vnni4(const void* w, const uint8_t* act, size_t arow, int64_t nb,
                              float* out) {
  RowDotVnni4<Q5_1Fmt>(w, act, arow, nb, out);
}

#undef SOV_VNNI

}  // namespace sov::kernels::internal
