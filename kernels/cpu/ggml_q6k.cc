// Q6_K MatMul in llama.cpp's x86 float orders (see ggml_q6k.h for the steps).
// The portable code below is the definition. The AVX512-VNNI kernels (Highway
// 1.0.3 has no vpdpbusd / vpdpwssd, hence intrinsics behind a runtime CPU
// check, as in ggml_q0.cc) form the same exact integers and take the same
// float steps: for T < 8 one weight row at a time for all tokens, prefetched
// 8 KiB ahead (ggml's vec_dot lanes),
// for T >= 8 on 16-token panels (the tiled microtile's lanes). Every path is
// bitwise equal for any T and thread count (each output is computed whole by
// one task).
#include "kernels/cpu/ggml_q6k.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
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

// ---- AVX512-VNNI, few tokens: the vec_dot order ------------------------------------
//
// One superblock of a weight row is unpacked once into four zmm of codes
// (elements 64k..64k+63) and four zmm of int16 scales (int16 lane i of zmm k
// is the scale of elements 64k+2i and 64k+2i+1), then used for every token
// of the call (T < 8). Per token: p = maddubs(codes, a) (pairs; |p| <= 2 * 63 * 128,
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

// The codes of one superblock as eight 32-element groups in element order
// (Codes() above, with ggml's vector steps).
SOV_VNNI512 inline void CodeGroups(const BlockQ6_K& x, __m256i g[8]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m3 = _mm256_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h));
    g[4 * h + 0] =
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
    g[4 * h + 1] =
        _mm256_or_si256(_mm256_and_si256(l1, m4),
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
    g[4 * h + 2] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
    g[4 * h + 3] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
  }
}

SOV_VNNI512 inline void Unpack(const BlockQ6_K& x, Unpacked* u) {
  __m256i g[8];
  CodeGroups(x, g);
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

// Software prefetch distance of the T < 8 path. Decode streams the weights
// from DRAM once; a thread reading a row superblock by superblock (210 bytes,
// spanning 3-5 cache lines) is not kept far enough ahead by the hardware
// prefetchers alone. 8 KiB ahead is the shortest distance at which the cold
// N = 32768, K = 6144 decode shape stopped getting faster on Zen 5 (512 B to
// 2 KiB ahead were slower than none: they duplicate the hardware's requests).
// Prefetches never fault, so running past a row's or the matrix's end is
// harmless; inside a task that address is the next row's data anyway.
constexpr uintptr_t kPrefetchBytes = 8192;

// One weight row n against tokens [0, nt) in the vec_dot order. Rows go one
// at a time: with two rows interleaved (two streams one row, 5 KB, apart
// per thread) the cold T = 1 case ran at a third of the bandwidth of this
// single sequential stream, and the unpack is shared by the nt tokens either way.
SOV_VNNI512 void VecDotRow(const WeightView& w, int64_t n, const Act& act, int nt, int64_t nb,
                           float* y, int64_t ldy) {
  const auto* x = reinterpret_cast<const BlockQ6_K*>(w.row(n));
  const BlockQ8_K* a[kVecDotMaxTokens];
  for (int t = 0; t < nt; ++t) a[t] = act.row(t);
  __m256 acc[kVecDotMaxTokens];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    // Four lines cover the 210 bytes of a superblock at any alignment.
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(x + b) + kPrefetchBytes;
    for (int l = 0; l < 4; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * l), _MM_HINT_T0);
    Unpacked u;
    Unpack(x[b], &u);
    for (int t = 0; t < nt; ++t) {
      const BlockQ8_K& ab = a[t][b];
      const float d = ab.d * u.d0;  // vmulss in ggml; nothing to contract with
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(Lanes(u, ab)), acc[t]);
    }
  }
  for (int t = 0; t < nt; ++t) y[t * ldy + n] = Hsum8(acc[t]);
}

// Rows [n0, n1), all T < 8 tokens, in the vec_dot order.
void VecDotFast(const WeightView& w, const Act& act, int64_t T, int64_t nb, int64_t n0, int64_t n1,
                float* y, int64_t ldy) {
  for (int64_t n = n0; n < n1; ++n) VecDotRow(w, n, act, static_cast<int>(T), nb, y, ldy);
}

// ---- many tokens: the tiled order on token panels ---------------------------------
//
// As in ggml's VNNI microtile, a zmm holds 16 tokens: lane j of panel vector
// kg is token j's 4 activation bytes of elements 4kg..4kg+3 of a superblock,
// a weight row's 4 codes of the same elements are broadcast, and vpdpbusd
// (unsigned codes x signed activations, exact) sums them. A sub-block's lanes
// start at -32 * bsum (the -32 offset, exact), are scaled by vpmulld and
// summed over the 16 sub-blocks: S exactly, for 16 outputs at once; then
// p = float(S) * d0 (vmulps) and acc = fma(p, d1, acc) lane by lane.

constexpr int kPanelTokens = 16;
constexpr int kPanelRows = 8;
// Per 16-token group and superblock: 64 code vectors, 16 start vectors
// (-32 * bsum of each sub-block), the 16 tokens' d1.
constexpr int kActVecs = 64 + 16 + 1;
// Token groups per pass over a task's weight rows: 8 groups of a K = 2048 row
// are ~330 KiB of panels, which stay in L2 while every weight tile uses them.
constexpr int64_t kGroupsPerPass = 8;

struct RowBlock {
  alignas(64) uint8_t codes[kQK_K];
  int32_t scales[16];
  float d0;
};

struct FreeAligned {
  void operator()(void* p) const { std::free(p); }
};

template <class T>
std::unique_ptr<T[], FreeAligned> AlignedArray(size_t n) {
  const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
  SOV_CHECK(p != nullptr) << "GgmlMatMulQ6K: cannot allocate " << bytes << " bytes of panels";
  return std::unique_ptr<T[], FreeAligned>(p);
}

// Token group g (tokens 16g..16g+15, missing ones zero) into
// out[nb * kActVecs * 16] (int32 lanes; the d1 vector holds float bits).
void BuildActPanel(const Act& act, int64_t T, int64_t nb, int64_t g, int32_t* out) {
  for (int64_t b = 0; b < nb; ++b) {
    int32_t* p = out + b * kActVecs * kPanelTokens;
    for (int j = 0; j < kPanelTokens; ++j) {
      const int64_t t = g * kPanelTokens + j;
      if (t >= T) {
        for (int v = 0; v < kActVecs; ++v) p[v * kPanelTokens + j] = 0;
        continue;
      }
      const BlockQ8_K& a = act.row(t)[b];
      for (int kg = 0; kg < 64; ++kg) std::memcpy(&p[kg * kPanelTokens + j], a.qs + 4 * kg, 4);
      for (int s = 0; s < 16; ++s) p[(64 + s) * kPanelTokens + j] = -32 * a.bsums[s];
      std::memcpy(&p[80 * kPanelTokens + j], &a.d, 4);
    }
  }
}

// Rows n .. n + nrows - 1 (the last repeated up to kPanelRows) into
// out[b * kPanelRows + r].
SOV_VNNI512 void UnpackRows(const WeightView& w, int64_t n, int nrows, int64_t nb, RowBlock* out) {
  for (int r = 0; r < kPanelRows; ++r) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(w.row(n + std::min(r, nrows - 1)));
    for (int64_t b = 0; b < nb; ++b) {
      RowBlock& o = out[b * kPanelRows + r];
      __m256i g[8];
      CodeGroups(x[b], g);
      for (int k = 0; k < 8; ++k)
        _mm256_store_si256(reinterpret_cast<__m256i*>(o.codes + 32 * k), g[k]);
      for (int s = 0; s < 16; ++s) o.scales[s] = x[b].scales[s];
      o.d0 = _cvtsh_ss(x[b].d);
    }
  }
}

// Four bytes into every dword lane, as one load (vpbroadcastd from memory;
// a set1 of a copied int goes through a general register).
SOV_VNNI512 inline __m512i Broadcast4(const uint8_t* p) {
  return _mm512_broadcastd_epi32(_mm_loadu_si32(p));
}

// kPanelRows rows (unpacked in wt) against one token group's panel.
SOV_VNNI512 void PanelTile(const RowBlock* wt, const int32_t* panel, int64_t nb,
                           float out[kPanelRows][kPanelTokens]) {
  __m512 acc[kPanelRows];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const RowBlock* rb = wt + b * kPanelRows;
    const auto* av = reinterpret_cast<const __m512i*>(panel + b * kActVecs * kPanelTokens);
    __m512i sum[kPanelRows];
    for (auto& s : sum) s = _mm512_setzero_si512();
    for (int s = 0; s < 16; ++s) {
      const __m512i a0 = _mm512_load_si512(av + 4 * s), a1 = _mm512_load_si512(av + 4 * s + 1);
      const __m512i a2 = _mm512_load_si512(av + 4 * s + 2), a3 = _mm512_load_si512(av + 4 * s + 3);
      const __m512i start = _mm512_load_si512(av + 64 + s);
      for (int r = 0; r < kPanelRows; ++r) {
        const uint8_t* c = rb[r].codes + 16 * s;
        __m512i v = _mm512_dpbusd_epi32(start, Broadcast4(c), a0);
        v = _mm512_dpbusd_epi32(v, Broadcast4(c + 4), a1);
        v = _mm512_dpbusd_epi32(v, Broadcast4(c + 8), a2);
        v = _mm512_dpbusd_epi32(v, Broadcast4(c + 12), a3);
        sum[r] =
            _mm512_add_epi32(sum[r], _mm512_mullo_epi32(v, _mm512_set1_epi32(rb[r].scales[s])));
      }
    }
    const __m512 d1 = _mm512_castsi512_ps(_mm512_load_si512(av + 80));
    for (int r = 0; r < kPanelRows; ++r) {
      const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(sum[r]), _mm512_set1_ps(rb[r].d0));
      acc[r] = _mm512_fmadd_ps(p, d1, acc[r]);
    }
  }
  for (int r = 0; r < kPanelRows; ++r) _mm512_storeu_ps(out[r], acc[r]);
}

void TiledFast(const WeightView& w, const Act& act, int64_t T, int64_t nb, float* y, int64_t ldy) {
  const int64_t groups = (T + kPanelTokens - 1) / kPanelTokens;
  const size_t panel_ints = static_cast<size_t>(nb) * kActVecs * kPanelTokens;
  auto panels = AlignedArray<int32_t>(panel_ints * groups);
  ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) BuildActPanel(act, T, nb, g, panels.get() + panel_ints * g);
  });
  const int64_t tiles = (w.rows + kPanelRows - 1) / kPanelRows;
  ParallelFor(tiles, 1, [&](int64_t p0, int64_t p1) {
    auto wt = AlignedArray<RowBlock>(static_cast<size_t>(nb) * kPanelRows);
    float out[kPanelRows][kPanelTokens];
    for (int64_t g0 = 0; g0 < groups; g0 += kGroupsPerPass) {
      const int64_t g1 = std::min(groups, g0 + kGroupsPerPass);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p * kPanelRows;
        const int nrows = static_cast<int>(std::min<int64_t>(kPanelRows, w.rows - n));
        UnpackRows(w, n, nrows, nb, wt.get());
        for (int64_t g = g0; g < g1; ++g) {
          PanelTile(wt.get(), panels.get() + panel_ints * g, nb, out);
          const int nt = static_cast<int>(std::min<int64_t>(kPanelTokens, T - g * kPanelTokens));
          for (int r = 0; r < nrows; ++r)
            for (int j = 0; j < nt; ++j) y[(g * kPanelTokens + j) * ldy + n + r] = out[r][j];
        }
      }
    }
  });
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

  if (fast && tiled) return TiledFast(w, a, T, nb, y, ldy);

  // Rows in chunks of 32 (each output is computed whole by one task, so the
  // split cannot change results).
  constexpr int64_t kRowsPerChunk = 32;
  ParallelFor(N, kRowsPerChunk, [&](int64_t n0, int64_t n1) {
    if (fast) return VecDotFast(w, a, T, nb, n0, n1, y, ldy);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = n0; n < n1; ++n) {
        const auto* wr = reinterpret_cast<const BlockQ6_K*>(w.row(n));
        y[t * ldy + n] = tiled ? TiledPortable(wr, a.row(t), nb) : VecDotPortable(wr, a.row(t), nb);
      }
    }
  });
}

}  // namespace sov::kernels::internal
