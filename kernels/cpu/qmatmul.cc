// Integer-dot-product MatMul for Q4_K / Q5_K / Q6_K / Q8_0 (numerics in
// kernels/cpu/qmatmul.h). Two ways to form the exact per-block integers:
//  * VNNI: `vpdpbusd` (u8 x s8 -> s32, 256-bit, AVX512-VNNI + VL), behind a
//    runtime CPU check; Highway 1.0.3 has no op for it, hence intrinsics.
//  * portable: the scalar definitions of qmatmul.h, which the compiler
//    vectorizes for the baseline target.
// Both feed the same CombineBlock* float step, so they agree bitwise.
#include "kernels/cpu/qmatmul.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cpu/qgemm.h"
#include "kernels/cpu/qmatmul_legacy.h"
#include "kernels/parallel.h"
#include "quant/quantize.h"
#include "runtime/check.h"

namespace sov::kernels::internal {
namespace {

std::atomic<bool> g_vnni_enabled{true};

bool CpuHasVnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

// ---- portable row dots ---------------------------------------------------------

// Q4_K and Q5_K: the integer parts (sumi, summ) of each block, then the
// contract's fixed float step.
template <class Block, void (*kIntParts)(const Block&, const BlockQ8_K&, int32_t*, int32_t*)>
float RowDotK45(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const Block*>(wrow);
  const auto* a = static_cast<const BlockQ8_K*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t si, sm;
    kIntParts(x[i], a[i], &si, &sm);
    acc = CombineBlockK(acc, x[i].d, x[i].dmin, a[i].d, si, sm);
  }
  return acc;
}
constexpr auto RowDotQ4K = RowDotK45<BlockQ4_K, IntPartsQ4K>;
constexpr auto RowDotQ5K = RowDotK45<BlockQ5_K, IntPartsQ5K>;

float RowDotQ6K(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ6_K*>(wrow);
  const auto* a = static_cast<const BlockQ8_K*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ6K(acc, x[i].d, a[i].d, IntPartQ6K(x[i], a[i]));
  return acc;
}

float RowDotQ8_0(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ8_0*>(wrow);
  const auto* a = static_cast<const BlockQ8_0*>(arow);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i)
    acc = CombineBlockQ8_0(acc, x[i].d, a[i].d, IntPartQ8_0(x[i], a[i]));
  return acc;
}

// ---- VNNI row dots ---------------------------------------------------------------

// F16C's vcvtph2ps widens fp16 exactly, like Fp16ToFp32 (NaN payloads aside:
// it quiets signalling NaNs); every AVX512 CPU has it.
#define SOV_VNNI __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

SOV_VNNI inline int32_t HSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// sc[8], m[8] from the 12 packed bytes, as three little-endian words (spec
// §5.1's word form of GetScaleMinK4; equal to it for every input, which the
// bitwise test against the reference covers).
inline void UnpackScalesK(const uint8_t* packed, uint8_t* sc, uint8_t* m) {
  uint32_t w[3];
  std::memcpy(w, packed, 12);
  const uint32_t s_lo = w[0] & 0x3f3f3f3fu;
  const uint32_t s_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(sc, &s_lo, 4);
  std::memcpy(sc + 4, &s_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// Shuffle controls that spread 8 int16 scales [s0..s7] (in both 128-bit
// halves) to [s_2g x4, s_2g+1 x4] per half: the layout of
// packs_epi32(p_2g, p_2g+1), whose int16 pairs madd_epi16 then scales.
struct ScaleCtrl {
  __m256i c[4];
};
SOV_VNNI inline ScaleCtrl MakeScaleCtrl() {
  ScaleCtrl r;
  for (int g = 0; g < 4; ++g) {
    alignas(32) int8_t b[32];
    for (int half = 0; half < 2; ++half) {
      for (int i = 0; i < 8; ++i) {
        const int src = i < 4 ? 2 * g : 2 * g + 1;
        b[16 * half + 2 * i] = static_cast<int8_t>(2 * src);
        b[16 * half + 2 * i + 1] = static_cast<int8_t>(2 * src + 1);
      }
    }
    r.c[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
  }
  return r;
}

// sum_j m_j (bsums[2j] + bsums[2j+1]) with one madd_epi16 (|bsums| <= 16 * 127).
SOV_VNNI inline int32_t MinTermKVnni(const uint8_t* mins, const int16_t* bsums) {
  const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums));
  return HSum(_mm256_madd_epi16(bs, m16));
}

// sum over the 4 groups of sc_2g * p_2g + sc_2g+1 * p_2g+1 (lane-wise). The
// dpbusd lanes are <= 4 * 31 * 127 = 15748 in magnitude, so packs_epi32 never
// saturates.
SOV_VNNI inline __m256i ScaleGroup(__m256i vacc, __m256i p0, __m256i p1, __m256i sc16,
                                   __m256i ctrl) {
  return _mm256_add_epi32(
      vacc, _mm256_madd_epi16(_mm256_packs_epi32(p0, p1), _mm256_shuffle_epi8(sc16, ctrl)));
}

SOV_VNNI inline __m256i Scales16(const uint8_t* sc) {
  return _mm256_broadcastsi128_si256(
      _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
}

SOV_VNNI float RowDotQ4KVnni(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ4_K*>(wrow);
  const auto* a = static_cast<const BlockQ8_K*>(arow);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const ScaleCtrl ctrl = MakeScaleCtrl();
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    UnpackScalesK(x[i].scales, sc, mn);
    const __m256i sc16 = Scales16(sc);
    __m256i vacc = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * g));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 64 * g));
      const __m256i a1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 64 * g + 32));
      const __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a0);
      const __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, a1);
      vacc = ScaleGroup(vacc, p0, p1, sc16, ctrl.c[g]);
    }
    acc = CombineBlockKF(acc, _cvtsh_ss(x[i].d), _cvtsh_ss(x[i].dmin), a[i].d, HSum(vacc),
                         MinTermKVnni(mn, a[i].bsums));
  }
  return acc;
}

// Four tokens against one Q4_K row: each block's nibbles and scales are
// unpacked once for the four activation rows (prefill). Per token the
// integers and the float order are those of RowDotQ4KVnni, so out[t] equals
// a single-token call bitwise.
SOV_VNNI void RowDotQ4KVnni4(const void* wrow, const uint8_t* act, size_t arow, int64_t nb,
                             float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(wrow);
  const BlockQ8_K* a[4];
  for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act + arow * t);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const ScaleCtrl ctrl = MakeScaleCtrl();
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    UnpackScalesK(x[i].scales, sc, mn);
    const __m256i sc16 = Scales16(sc);
    __m256i vacc[4];
    for (int t = 0; t < 4; ++t) vacc[t] = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * g));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i s = _mm256_shuffle_epi8(sc16, ctrl.c[g]);
      for (int t = 0; t < 4; ++t) {
        const int8_t* aq = a[t][i].qs + 64 * g;
        const __m256i p0 = _mm256_dpbusd_epi32(
            _mm256_setzero_si256(), lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq)));
        const __m256i p1 =
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi,
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 32)));
        vacc[t] = _mm256_add_epi32(vacc[t], _mm256_madd_epi16(_mm256_packs_epi32(p0, p1), s));
      }
    }
    const float xd = _cvtsh_ss(x[i].d), xdmin = _cvtsh_ss(x[i].dmin);
    for (int t = 0; t < 4; ++t) {
      acc[t] = CombineBlockKF(acc[t], xd, xdmin, a[t][i].d, HSum(vacc[t]),
                              MinTermKVnni(mn, a[t][i].bsums));
    }
  }
  for (int t = 0; t < 4; ++t) out[t] = acc[t];
}

SOV_VNNI float RowDotQ5KVnni(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ5_K*>(wrow);
  const auto* a = static_cast<const BlockQ8_K*>(arow);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  const ScaleCtrl ctrl = MakeScaleCtrl();
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    UnpackScalesK(x[i].scales, sc, mn);
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh));
    const __m256i sc16 = Scales16(sc);
    __m256i vacc = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * g));
      // Bit 2g (2g+1) of qh[l] is the 5th bit of sub-block 2g (2g+1); after
      // masking to 0/1 the 16-bit shift by 4 cannot carry into the next byte.
      const __m256i h0 = _mm256_slli_epi16(
          _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * g)), one), 4);
      const __m256i h1 = _mm256_slli_epi16(
          _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * g + 1)), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 64 * g));
      const __m256i a1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 64 * g + 32));
      const __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, a0);
      const __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, a1);
      vacc = ScaleGroup(vacc, p0, p1, sc16, ctrl.c[g]);
    }
    acc = CombineBlockKF(acc, _cvtsh_ss(x[i].d), _cvtsh_ss(x[i].dmin), a[i].d, HSum(vacc),
                         MinTermKVnni(mn, a[i].bsums));
  }
  return acc;
}

SOV_VNNI float RowDotQ6KVnni(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ6_K*>(wrow);
  const auto* a = static_cast<const BlockQ8_K*>(arow);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    __m256i vacc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const int8_t* sc = x[i].scales + 8 * h;
      const int8_t* aq = a[i].qs + 128 * h;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h));
      // Unsigned 6-bit u = low | high << 4 (0..63); the -32 is applied below via bsums.
      __m256i u[4];
      u[0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
      u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
      u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
      u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 32 * k));
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[k], av);
        // Lanes 0..3 cover group 2k of this half, lanes 4..7 group 2k + 1.
        const __m256i s =
            _mm256_set_m128i(_mm_set1_epi32(sc[2 * k + 1]), _mm_set1_epi32(sc[2 * k]));
        vacc = _mm256_add_epi32(vacc, _mm256_mullo_epi32(p, s));
      }
    }
    int32_t corr = 0;
    for (int g = 0; g < 16; ++g) corr += x[i].scales[g] * a[i].bsums[g];
    acc = CombineBlockQ6KF(acc, _cvtsh_ss(x[i].d), a[i].d, HSum(vacc) - 32 * corr);
  }
  return acc;
}

SOV_VNNI inline __m256i DotQ8_0Block(const BlockQ8_0& x, const BlockQ8_0& a) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
  const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
  // s8 x s8 as |q| (u8; -128 -> 128 is still exact) times a carrying q's sign.
  // Negating a is exact unless a holds -128, which the x86 activation quantizer
  // writes only where 127 / amax overflowed (then fp16(a.d) = 0 and the block
  // adds d * sumi = +-0 or NaN whatever sumi is) or for NaN inputs.
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(q), _mm256_sign_epi8(av, q));
}

SOV_VNNI float RowDotQ8_0Vnni(const void* wrow, const void* arow, int64_t nb) {
  const auto* x = static_cast<const BlockQ8_0*>(wrow);
  const auto* a = static_cast<const BlockQ8_0*>(arow);
  float acc = 0.0f;
  int64_t i = 0;
  // Eight blocks at a time: their lane sums reduced together by a hadd tree
  // (integers, exact), then combined one block after the other as always.
  for (; i + 8 <= nb; i += 8) {
    __m256i p[8];
    for (int k = 0; k < 8; ++k) p[k] = DotQ8_0Block(x[i + k], a[i + k]);
    const __m256i t0 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i t1 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                                          _mm256_permute2x128_si256(t0, t1, 0x31));
    // CombineBlockQ8_0 lane-wise: d = f16(x.d) * f16(a.d), pos = d * float(sumi)
    // (one rounding each, no add in the vector part), then the sequential adds.
    alignas(16) uint16_t xd[8], ad[8];
    for (int k = 0; k < 8; ++k) xd[k] = x[i + k].d, ad[k] = a[i + k].d;
    const __m256 d =
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(xd))),
                      _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(ad))));
    alignas(32) float pos[8];
    _mm256_store_ps(pos, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sums)));
    for (int k = 0; k < 8; ++k) acc = acc + pos[k];
  }
  for (; i < nb; ++i) acc = CombineBlockQ8_0(acc, x[i].d, a[i].d, HSum(DotQ8_0Block(x[i], a[i])));
  return acc;
}

#undef SOV_VNNI

using RowDot = float (*)(const void*, const void*, int64_t);
// Four consecutive activation rows (arow bytes apart) against one weight row.
using RowDot4 = void (*)(const void*, const uint8_t*, size_t, int64_t, float*);

struct TypeInfo {
  ActFormat act;
  int64_t bs;  // elements per weight block
  RowDot portable;
  RowDot vnni;
  RowDot4 vnni4 = nullptr;  // optional
};

TypeInfo QTypeInfo(DType t) {
  switch (t) {
    case DType::kQ4_K:
      return {ActFormat::kQ8_K, kQK_K, RowDotQ4K, RowDotQ4KVnni, RowDotQ4KVnni4};
    case DType::kQ5_K:
      return {ActFormat::kQ8_K, kQK_K, RowDotQ5K, RowDotQ5KVnni};
    case DType::kQ6_K:
      return {ActFormat::kQ8_K, kQK_K, RowDotQ6K, RowDotQ6KVnni};
    case DType::kQ8_0:
      return {ActFormat::kQ8_0, kQK, RowDotQ8_0, RowDotQ8_0Vnni};
    case DType::kQ4_0:
      return {ActFormat::kQ8_0, kQK, RowDotQ4_0, RowDotQ4_0Vnni, RowDotQ4_0Vnni4};
    case DType::kQ5_0:
      return {ActFormat::kQ8_0, kQK, RowDotQ5_0, RowDotQ5_0Vnni, RowDotQ5_0Vnni4};
    case DType::kQ4_1:
      return {ActFormat::kQ8_1, kQK, RowDotQ4_1, RowDotQ4_1Vnni, RowDotQ4_1Vnni4};
    case DType::kQ5_1:
      return {ActFormat::kQ8_1, kQK, RowDotQ5_1, RowDotQ5_1Vnni, RowDotQ5_1Vnni4};
    default:
      SOV_CHECK(false) << "QMatMul: unsupported weight dtype " << Name(t);
      return {};
  }
}

}  // namespace

bool QMatMulVnniAvailable() { return CpuHasVnni(); }
bool CpuHasAvx512VnniFmaF16c() {
  static const bool has =
      CpuHasVnni() && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}
void SetQMatMulVnniEnabled(bool enabled) { g_vnni_enabled.store(enabled); }
bool QMatMulVnniActive() { return CpuHasVnni() && g_vnni_enabled.load(); }

bool QMatMulSupports(DType t) {
  return t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K || t == DType::kQ8_0 ||
         t == DType::kQ4_0 || t == DType::kQ5_0 || t == DType::kQ4_1 || t == DType::kQ5_1;
}

void QMatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  const TypeInfo info = QTypeInfo(w.dtype);
  const int64_t K = w.cols, N = w.rows;
  SOV_CHECK(K % info.bs == 0) << "QMatMul: " << K << " columns of " << Name(w.dtype)
                              << " are not a multiple of the block size " << info.bs;
  const int64_t nb = K / info.bs;
  const bool vnni = QMatMulVnniActive();
  const RowDot dot = vnni ? info.vnni : info.portable;
  const RowDot4 dot4 = vnni ? info.vnni4 : nullptr;

  // Activations: quantized once per call, reused by every weight row.
  const size_t arow = ActRowBytes(info.act, K);
  std::vector<uint8_t> act(arow * static_cast<size_t>(T));
  ParallelFor(T, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      QuantizeActRow(info.act, x + t * ldx, K, act.data() + arow * t);
    }
  });

  // Many tokens: the panel GEMM (same integers, same float order).
  if (vnni && T >= kQGemmMinTokens && QGemmSupports(w.dtype)) {
    return QGemm(act.data(), arow, T, w, y, ldy);
  }

  // Rows in chunks of 32 (each output is an independent fixed-order dot, so the
  // split cannot change results). Within a chunk, tokens go in blocks of 64 so
  // a few weight rows stay in L1 while a block of activation rows stays in L2.
  constexpr int64_t kRowsPerChunk = 32, kRowTile = 8, kTokTile = 64;
  ParallelFor(N, kRowsPerChunk, [&](int64_t n0, int64_t n1) {
    for (int64_t nr = n0; nr < n1; nr += kRowTile) {
      const int64_t nr1 = std::min(n1, nr + kRowTile);
      for (int64_t t0 = 0; t0 < T; t0 += kTokTile) {
        const int64_t t1 = std::min(T, t0 + kTokTile);
        for (int64_t n = nr; n < nr1; ++n) {
          const uint8_t* wr = w.row(n);
          int64_t t = t0;
          if (dot4 != nullptr) {
            for (; t + 4 <= t1; t += 4) {
              float out[4];
              dot4(wr, act.data() + arow * t, arow, nb, out);
              for (int k = 0; k < 4; ++k) y[(t + k) * ldy + n] = out[k];
            }
          }
          for (; t < t1; ++t) y[t * ldy + n] = dot(wr, act.data() + arow * t, nb);
        }
      }
    }
  });
}

}  // namespace sov::kernels::internal
