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

// Unpack: the 32 unsigned weight values of a block as bytes. Lanes: eight
// int32 lanes whose sum is the block integer, u8 weights x s8 activations by
// vpdpbusd (exact for every activation byte, -128 included), the _0 formats'
// offset subtracted as offset * sum(a), again by vpdpbusd.
struct Q4_0Fmt {
  using W = BlockQ4_0;
  using A = BlockQ8_0;
  static constexpr bool kMin = false;
  SOV_VNNI static __m256i Unpack(const W& x) { return Nibbles(x.qs); }
  SOV_VNNI static __m256i Lanes(__m256i u, const A& a) {
    const __m256i av = ActQs(a.qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, av);
    return _mm256_sub_epi32(p,
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), av));
  }
};

struct Q5_0Fmt {
  using W = BlockQ5_0;
  using A = BlockQ8_0;
  static constexpr bool kMin = false;
  SOV_VNNI static __m256i Unpack(const W& x) {
    return _mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh));
  }
  SOV_VNNI static __m256i Lanes(__m256i u, const A& a) {
    const __m256i av = ActQs(a.qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, av);
    return _mm256_sub_epi32(p,
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(16), av));
  }
};

struct Q4_1Fmt {
  using W = BlockQ4_1;
  using A = BlockQ8_1;
  static constexpr bool kMin = true;
  SOV_VNNI static __m256i Unpack(const W& x) { return Nibbles(x.qs); }
  SOV_VNNI static __m256i Lanes(__m256i u, const A& a) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, ActQs(a.qs));
  }
};

struct Q5_1Fmt {
  using W = BlockQ5_1;
  using A = BlockQ8_1;
  static constexpr bool kMin = true;
  SOV_VNNI static __m256i Unpack(const W& x) {
    return _mm256_or_si256(Nibbles(x.qs), FifthBits(x.qh));
  }
  SOV_VNNI static __m256i Lanes(__m256i u, const A& a) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, ActQs(a.qs));
  }
};

SOV_VNNI inline int32_t HSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

template <class F>
SOV_VNNI inline float Combine(float acc, const typename F::W& x, const typename F::A& a,
                              int32_t sumi) {
  if constexpr (F::kMin) {
    return CombineBlockQ8_1(acc, x.d, x.m, a.d, a.s, sumi);
  } else {
    return CombineBlockQ8_0(acc, x.d, a.d, sumi);
  }
}

// Lane sums of 8 blocks reduced together by a hadd tree (integers, exact):
// element k is block k's integer.
SOV_VNNI inline __m256i Reduce8(const __m256i* p) {
  const __m256i t0 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
  const __m256i t1 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                          _mm256_permute2x128_si256(t0, t1, 0x31));
}

// Eight consecutive fp16 fields (stride sizeof(B)) widened to f32 (exact).
template <class B>
SOV_VNNI inline __m256 Halves8(const B* b, uint16_t B::*field) {
  alignas(16) uint16_t h[8];
  for (int k = 0; k < 8; ++k) h[k] = b[k].*field;
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

// The float steps of 8 blocks: d * float(sumi) (and m * s) with one vector
// multiply each, one rounding per lane as in CombineBlock*, then the
// sequential adds in block order.
template <class F>
SOV_VNNI inline float Combine8(float acc, __m256 xd, __m256 xm, const typename F::A* a,
                               __m256i sums) {
  using A = typename F::A;
  alignas(32) float pos[8];
  _mm256_store_ps(pos,
                  _mm256_mul_ps(_mm256_mul_ps(xd, Halves8<A>(a, &A::d)), _mm256_cvtepi32_ps(sums)));
  if constexpr (F::kMin) {
    alignas(32) float mins[8];
    _mm256_store_ps(mins, _mm256_mul_ps(xm, Halves8<A>(a, &A::s)));
    for (int k = 0; k < 8; ++k) {
      acc = acc + Materialize(pos[k]);
      acc = acc + Materialize(mins[k]);
    }
  } else {
    for (int k = 0; k < 8; ++k) acc = acc + Materialize(pos[k]);
  }
  return acc;
}

template <class F>
SOV_VNNI inline __m256 Mins8(const typename F::W* x) {
  if constexpr (F::kMin) {
    return Halves8<typename F::W>(x, &F::W::m);
  } else {
    return _mm256_setzero_ps();
  }
}

template <class F>
SOV_VNNI float RowDotVnni(const void* wrow, const void* arow, int64_t nb) {
  using W = typename F::W;
  const auto* x = static_cast<const W*>(wrow);
  const auto* a = static_cast<const typename F::A*>(arow);
  float acc = 0.0f;
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    __m256i p[8];
    for (int k = 0; k < 8; ++k) p[k] = F::Lanes(F::Unpack(x[i + k]), a[i + k]);
    acc = Combine8<F>(acc, Halves8<W>(x + i, &W::d), Mins8<F>(x + i), a + i, Reduce8(p));
  }
  for (; i < nb; ++i) acc = Combine<F>(acc, x[i], a[i], HSum(F::Lanes(F::Unpack(x[i]), a[i])));
  return acc;
}

// Four tokens (activation rows arow bytes apart) against one weight row: each
// weight block is unpacked once. Per token the integers and float steps are
// those of RowDotVnni, so out[t] equals a single-token call bitwise.
template <class F>
SOV_VNNI void RowDotVnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb,
                          float* out) {
  using W = typename F::W;
  using A = typename F::A;
  const auto* x = static_cast<const W*>(wrow);
  const A* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const A*>(act + arow * t);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    __m256i u[8];
    for (int k = 0; k < 8; ++k) u[k] = F::Unpack(x[i + k]);
    const __m256 xd = Halves8<W>(x + i, &W::d), xm = Mins8<F>(x + i);
    for (int t = 0; t < 4; ++t) {
      __m256i p[8];
      for (int k = 0; k < 8; ++k) p[k] = F::Lanes(u[k], a[t][i + k]);
      acc[t] = Combine8<F>(acc[t], xd, xm, a[t] + i, Reduce8(p));
    }
  }
  for (; i < nb; ++i) {
    const __m256i u = F::Unpack(x[i]);
    for (int t = 0; t < 4; ++t)
      acc[t] = Combine<F>(acc[t], x[i], a[t][i], HSum(F::Lanes(u, a[t][i])));
  }
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
