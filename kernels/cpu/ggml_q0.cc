// Q8_0 / Q5_0 MatMul in llama.cpp's x86 float order (see ggml_q0.h for the
// steps). The portable code below is the definition; the AVX512-VNNI kernels
// (Highway 1.0.3 has no vpdpbusd, hence intrinsics behind a runtime CPU check,
// as in qgemm.cc) form the same exact lane integers and take the same float
// steps lane by lane, so every path is bitwise equal for any T and thread
// count (each output is computed whole by one task).
#include "kernels/cpu/ggml_q0.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/qmatmul.h"
#include "kernels/cpu/qmatmul_legacy.h"
#include "kernels/parallel.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "runtime/check.h"

// GCC 12 reports the _mm512_undefined_* inside the cast / convert intrinsics as
// "maybe uninitialized" once the tiles are inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sov::kernels::internal {
namespace {

std::atomic<bool> g_fast_enabled{true};

// The fast kernels' instruction sets (kernels/cpu/qmatmul.h).
bool CpuHasVnni() { return CpuHasAvx512VnniFmaF16c(); }

size_t BlockBytes(DType t) { return t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ5_0); }

// ---- portable: the definition -------------------------------------------------

// Signed weight values of one block in element order (Q5_0: the nibble with
// its fifth bit, minus 16) and its fp16 scale.
uint16_t WeightValues(DType t, const uint8_t* blk, int8_t v[kQK]) {
  if (t == DType::kQ8_0) {
    const auto& x = *reinterpret_cast<const BlockQ8_0*>(blk);
    std::memcpy(v, x.qs, kQK);
    return x.d;
  }
  const auto& x = *reinterpret_cast<const BlockQ5_0*>(blk);
  for (int e = 0; e < kQK; ++e)
    v[e] = static_cast<int8_t>((LegacyLow4(x.qs, e) | (LegacyHigh1(x.qh, e) << 4)) - 16);
  return x.d;
}

// ggml forms v * a as |v| * sign(a, v) (vpsignb, then unsigned x signed
// bytes), where negating a = -128 wraps back to -128. That equals v * a except
// for a = -128 against v < 0, which the x86 Q8_0 quantizer only writes for a
// NaN input or a block whose 127 / amax overflows (then its fp16 d is 0).
inline int32_t SignTrickProduct(int8_t v, int8_t a) {
  const int av = v < 0 ? -v : v;  // |-128| = 128 is what vpsignb's byte means unsigned
  const int8_t sa = v < 0 ? static_cast<int8_t>(-static_cast<int>(a) & 0xFF) : (v == 0 ? 0 : a);
  return av * sa;
}

// True if some block with a nonzero scale holds a -128: the one case where
// the exact products of the VNNI kernels and ggml's differ observably (with
// d = 0 every such product is multiplied by a zero and added to an
// accumulator that is never -0, so the difference cannot show).
bool HasWrappingActivation(const uint8_t* act, size_t arow, int64_t T, int64_t nb) {
  for (int64_t t = 0; t < T; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8_0*>(act + arow * t);
    for (int64_t b = 0; b < nb; ++b) {
      if ((a[b].d & 0x7FFF) == 0) continue;
      bool wrap = false;
      for (int j = 0; j < kQK; ++j) wrap |= a[b].qs[j] == -128;
      if (wrap) return true;
    }
  }
  return false;
}

// Step 4: tinyBLAS hsum(__m256) / hsum_float_8. Only additions, so no
// contraction can touch it.
float HsumGgml(const float acc[8]) {
  const float s0 = acc[4] + acc[0], s1 = acc[5] + acc[1];
  const float s2 = acc[6] + acc[2], s3 = acc[7] + acc[3];
  return (s0 + s2) + (s1 + s3);
}

float DotPortable(DType t, const uint8_t* wrow, const BlockQ8_0* a, int64_t nb) {
  const size_t bb = BlockBytes(t);
  float acc[8] = {};  // step 2: +0
  for (int64_t b = 0; b < nb; ++b) {
    int8_t v[kQK];
    const uint16_t wd = WeightValues(t, wrow + b * bb, v);
    // Step 3: the scale product is rounded on its own (vmulps), then one FMA
    // per lane; std::fma is the correctly rounded fused operation vfmadd is.
    const float d = Materialize(Fp16ToFp32(wd) * Fp16ToFp32(a[b].d));
    for (int l = 0; l < 8; ++l) {
      int32_t s = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) s += SignTrickProduct(v[j], a[b].qs[j]);
      acc[l] = std::fma(d, static_cast<float>(s), acc[l]);
    }
  }
  return HsumGgml(acc);
}

// ---- AVX512-VNNI -----------------------------------------------------------------
//
// Two kernels, both exact in the integers and lane-for-lane the float steps:
//  * one token (decode): a zmm holds two outputs, rows r and r + 1, eight
//    lanes each (acc[0..7] of each row);
//  * T >= 2: 16-row panels, lane r of a zmm is row r and an output's eight
//    accumulators are eight zmm (below).
// vpdpbusd takes unsigned x signed bytes, so one side goes in offset by `off`
// (the activation by 128 here, the weights by 128 or 16 in the panels) and
// the lane starts at -off * (sum of the other side's 4 bytes):
// sum (x + off) y - off sum y = sum x y, exactly (every partial sum is far
// inside int32). That is ggml's sign-trick integer whenever it can show
// (HasWrappingActivation sends the other calls to the portable code).

#define SOV_VNNI512 __attribute__((target("avx2,f16c,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kRowPairTile = 4;  // row pairs per one-token tile (8 rows)
constexpr uintptr_t kCacheLine = 64;

template <DType kT>
SOV_VNNI512 inline __m256i LoadWeights(const uint8_t* blk) {
  if constexpr (kT == DType::kQ8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + offsetof(BlockQ8_0, qs)));
  } else {
    const __m128i x =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(BlockQ5_0, qs)));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i nib = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(x, m4)),
                                                _mm_and_si128(_mm_srli_epi16(x, 4), m4), 1);
    uint32_t qh;
    std::memcpy(&qh, blk + offsetof(BlockQ5_0, qh), 4);
    const __m256i hi = _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nib, hi), _mm256_set1_epi8(16));
  }
}

SOV_VNNI512 inline float WeightScale(const uint8_t* blk) {
  uint16_t h;
  std::memcpy(&h, blk, 2);
  return _cvtsh_ss(h);
}

// Two eight-lane float halves as one zmm, and the high half back (AVX512F
// forms; the f32x8 ones need AVX512DQ).
SOV_VNNI512 inline __m512 Join(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}
SOV_VNNI512 inline __m256 High(__m512 x) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
}

// -128 * (sum of each lane's 4 weights): the start value of the lane.
SOV_VNNI512 inline __m512i OffsetInit(__m512i v) {
  return _mm512_sub_epi32(_mm512_setzero_si512(),
                          _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), v));
}

// Step 4 on one eight-lane half, with the instructions ggml uses.
SOV_VNNI512 inline float Hsum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SOV_VNNI512 inline __m512 Step(__m512 acc, __m512 d, __m512i u, __m512i v, __m512i init) {
  const __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(init, u, v));
  return _mm512_fmadd_ps(d, f, acc);
}

struct Act {
  const uint8_t* data;  // T rows written by QuantizeActRow(kQ8_0)
  size_t row_bytes;
  int64_t nb;
  const BlockQ8_0* blocks(int64_t t) const {
    return reinterpret_cast<const BlockQ8_0*>(data + row_bytes * t);
  }
  const float* scales(int64_t t) const {  // the widened fp16 d of each block
    return reinterpret_cast<const float*>(data + row_bytes * t +
                                          ActTablesOffset(sizeof(BlockQ8_0), nb));
  }
};

// One token t against rows rows[0..2 kRowPairTile) (two per accumulator).
// pf .. pf_end is the next tile's bytes, fetched ahead as one forward stream,
// pf_step bytes per block (see OneTokenFast).
template <DType kT>
SOV_VNNI512 void TileLoneToken(const uint8_t* const* rows, int nrows, const int64_t* n_idx,
                               const Act& act, int64_t t, const uint8_t* pf,
                               const uint8_t* pf_end, size_t pf_step, float* y, int64_t ldy) {
  constexpr size_t bb = kT == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ5_0);
  const BlockQ8_0* ab = act.blocks(t);
  const float* ad = act.scales(t);
  __m512 acc[kRowPairTile];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t b = 0; b < act.nb; ++b) {
    for (const uint8_t* e = std::min(pf + pf_step, pf_end); pf < e; pf += kCacheLine)
      _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
    const __m512i u = _mm512_xor_si512(
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab[b].qs))),
        _mm512_set1_epi8(-128));
    const __m512 da = _mm512_set1_ps(ad[b]);
    for (int p = 0; p < kRowPairTile; ++p) {
      const uint8_t* b0 = rows[2 * p] + b * bb;
      const uint8_t* b1 = rows[2 * p + 1] + b * bb;
      const __m512i v =
          _mm512_inserti64x4(_mm512_castsi256_si512(LoadWeights<kT>(b0)), LoadWeights<kT>(b1), 1);
      const __m512 dw = Join(_mm256_set1_ps(WeightScale(b0)), _mm256_set1_ps(WeightScale(b1)));
      acc[p] = Step(acc[p], _mm512_mul_ps(dw, da), u, v, OffsetInit(v));
    }
  }
  for (int p = 0; p < kRowPairTile; ++p) {
    if (2 * p < nrows) y[t * ldy + n_idx[2 * p]] = Hsum8(_mm512_castps512_ps256(acc[p]));
    if (2 * p + 1 < nrows) y[t * ldy + n_idx[2 * p + 1]] = Hsum8(High(acc[p]));
  }
}

// Rows [n0, n1) against token t.
//
// A tile reads its 8 rows side by side, 8 strided streams that the hardware
// prefetchers follow poorly when the weights come from DRAM (decode: Q8_0
// N=65536 K=3072, 2 threads, 29 GB/s against 50 for one row at a time). So
// while a tile runs, the next 8 rows (contiguous bytes) are prefetched in
// address order, spread evenly over the tile's blocks: one sequential stream,
// a tile ahead. It is only a hint: no output changes.
template <DType kT>
void OneTokenFast(const WeightView& w, const Act& act, int64_t n0, int64_t n1, int64_t t, float* y,
                  int64_t ldy) {
  constexpr int kTileRows = 2 * kRowPairTile;
  const uint8_t* rows[kTileRows];
  int64_t n_idx[kTileRows];
  // Rows past n1 belong to the next chunk, which this thread usually runs
  // next; prefetching them is harmless either way.
  const size_t tile_bytes = kTileRows * w.row_bytes;
  const size_t pf_step =
      ((tile_bytes + act.nb - 1) / act.nb + kCacheLine - 1) / kCacheLine * kCacheLine;
  for (int64_t n = n0; n < n1; n += kTileRows) {
    const int nrows = static_cast<int>(std::min<int64_t>(kTileRows, n1 - n));
    for (int r = 0; r < kTileRows; ++r) {
      n_idx[r] = n + std::min(r, nrows - 1);
      rows[r] = w.row(n_idx[r]);
    }
    const int64_t next = std::min<int64_t>(n + kTileRows, w.rows);
    const int64_t next_end = std::min<int64_t>(next + kTileRows, w.rows);
    const uint8_t* pf = w.row(next);
    const uint8_t* pf_end = w.row(next_end);
    // Align down so each line is requested once.
    pf = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(pf) & ~(kCacheLine - 1));
    TileLoneToken<kT>(rows, nrows, n_idx, act, t, pf, pf_end, pf_step, y, ldy);
  }
}

// ---- many tokens: 16-row panels ---------------------------------------------------
//
// Lane r of a zmm is row r of a 16-row panel, and an output's eight
// accumulators are eight zmm (acc[l], position l = elements 4l..4l+3 of each
// block), so one scale product serves 16 outputs and step 4 is seven vector
// additions for 16 outputs. The panel holds, per block, eight vectors of
// unsigned weights u = v + off (lane r = row r's 4 values of position l)
// and one vector of the 16 rows' widened scales. The activation's 4 bytes of
// position l go in broadcast as the signed operand, and the lane starts at
// -off * (their sum), so again sum u a - off sum a = sum v a exactly.

constexpr int kPanelRows = 16;
constexpr int kPanelVecs = 9;  // per block: 8 quant vectors, then the row scales
// Tokens per register tile: 16 accumulators + 8 weight vectors. Three (24
// accumulators, weights reloaded) measured slower: K=640 N=2048 T=64, one
// thread, 606 -> 694 us.
constexpr int kPanelTokens = 2;
// From this many tokens on the panels run. K=640, N=2048, one thread: Q8_0
// one-token tiles 27 us vs panel 44 us at T = 1; at T = 2 (two one-token
// passes, or the pair tiles this file had) ~93 us vs panel 51 us; Q5_0 alike.
constexpr int64_t kPanelMinTokens = 2;

template <DType kT>
constexpr int8_t PanelOffset() {
  return kT == DType::kQ8_0 ? -128 : 16;  // -128 as a byte addition is + 128 mod 256
}
template <DType kT>
constexpr int32_t PanelStartFactor() {
  return kT == DType::kQ8_0 ? -128 : -16;
}

// Rows n .. n + nrows - 1 (repeated up to 16) into panel[nb * kPanelVecs].
// Per block, the 16 x 8 dword matrix (row, position) is transposed with the
// classic 8 x 8 unpack network, rows r and r + 8 sharing a zmm (a 16 x 8
// gather costs about four times as much).
template <DType kT>
SOV_VNNI512 void UnpackPanel(const WeightView& w, int64_t n, int nrows, int64_t nb,
                             __m512i* panel) {
  constexpr size_t bb = kT == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ5_0);
  alignas(64) float scales[kPanelRows];
  const uint8_t* rows[kPanelRows];
  for (int r = 0; r < kPanelRows; ++r) rows[r] = w.row(n + std::min(r, nrows - 1));
  const __m256i off = _mm256_set1_epi8(PanelOffset<kT>());
  const __m512i lo_cols = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
  const __m512i hi_cols = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i rr[8];  // rows i (low half) and i + 8 (high half), unsigned
    for (int i = 0; i < 8; ++i) {
      const uint8_t* b0 = rows[i] + b * bb;
      const uint8_t* b1 = rows[i + 8] + b * bb;
      rr[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_add_epi8(LoadWeights<kT>(b0), off)),
                                 _mm256_add_epi8(LoadWeights<kT>(b1), off), 1);
      scales[i] = WeightScale(b0);
      scales[i + 8] = WeightScale(b1);
    }
    __m512i t[8], u[8];
    for (int g = 0; g < 2; ++g) {  // rows 4g .. 4g + 3 (and + 8)
      const __m512i* q = rr + 4 * g;
      t[4 * g + 0] = _mm512_unpacklo_epi32(q[0], q[1]);
      t[4 * g + 1] = _mm512_unpackhi_epi32(q[0], q[1]);
      t[4 * g + 2] = _mm512_unpacklo_epi32(q[2], q[3]);
      t[4 * g + 3] = _mm512_unpackhi_epi32(q[2], q[3]);
      // u[4g + c]: positions c (128-bit lanes 0, 2) and c + 4 (lanes 1, 3).
      u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g + 0], t[4 * g + 2]);
      u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g + 0], t[4 * g + 2]);
      u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
      u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    __m512i* out = panel + b * kPanelVecs;
    for (int c = 0; c < 4; ++c) {
      out[c] = _mm512_permutex2var_epi64(u[c], lo_cols, u[4 + c]);
      out[c + 4] = _mm512_permutex2var_epi64(u[c], hi_cols, u[4 + c]);
    }
    out[8] = _mm512_castps_si512(_mm512_load_ps(scales));
  }
}

// Tokens t0 .. t0 + kTok - 1 against a panel; start[t] is token t's table of
// lane start values (nb * 8, see PanelStarts).
template <int kTok>
SOV_VNNI512 void PanelTile(const __m512i* panel, const Act& act, const int32_t* start, int64_t t0,
                           int64_t n, int nrows, float* y, int64_t ldy) {
  const int64_t nb = act.nb;
  const BlockQ8_0* ab[kTok];
  const float* ad[kTok];
  const int32_t* st[kTok];
  for (int t = 0; t < kTok; ++t) {
    ab[t] = act.blocks(t0 + t);
    ad[t] = act.scales(t0 + t);
    st[t] = start + (t0 + t) * nb * 8;
  }
  __m512 acc[kTok][8];
  for (auto& a : acc)
    for (auto& l : a) l = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m512i* pv = panel + b * kPanelVecs;
    const __m512 dw = _mm512_castsi512_ps(_mm512_load_si512(pv + 8));
    for (int t = 0; t < kTok; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ad[t][b]));
      const int8_t* q = ab[t][b].qs;
      for (int l = 0; l < 8; ++l) {
        int32_t a4;
        std::memcpy(&a4, q + 4 * l, 4);
        const __m512i s = _mm512_dpbusd_epi32(_mm512_set1_epi32(st[t][8 * b + l]),
                                              _mm512_load_si512(pv + l), _mm512_set1_epi32(a4));
        acc[t][l] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[t][l]);
      }
    }
  }
  const __mmask16 keep = static_cast<__mmask16>((1u << nrows) - 1);
  for (int t = 0; t < kTok; ++t) {
    const __m512* a = acc[t];
    const __m512 s0 = _mm512_add_ps(a[4], a[0]), s1 = _mm512_add_ps(a[5], a[1]);
    const __m512 s2 = _mm512_add_ps(a[6], a[2]), s3 = _mm512_add_ps(a[7], a[3]);
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3));
    _mm512_mask_storeu_ps(y + (t0 + t) * ldy + n, keep, sum);
  }
}

// Lane start values of every token: start[(t * nb + b) * 8 + l] =
// factor * (sum of the 4 activation bytes of position l of block b).
void PanelStarts(const Act& act, int64_t T, int32_t factor, int32_t* start) {
  for (int64_t t = 0; t < T; ++t) {
    const BlockQ8_0* ab = act.blocks(t);
    for (int64_t b = 0; b < act.nb; ++b)
      for (int l = 0; l < 8; ++l) {
        const int8_t* q = ab[b].qs + 4 * l;
        start[(t * act.nb + b) * 8 + l] = factor * (q[0] + q[1] + q[2] + q[3]);
      }
  }
}

struct FreeAligned {
  void operator()(void* p) const { std::free(p); }
};

template <DType kT>
void PanelsFast(const WeightView& w, const Act& act, int64_t T, float* y, int64_t ldy) {
  std::vector<int32_t> start(static_cast<size_t>(T * act.nb * 8));
  PanelStarts(act, T, PanelStartFactor<kT>(), start.data());
  const int64_t npanels = (w.rows + kPanelRows - 1) / kPanelRows;
  const size_t panel_bytes = static_cast<size_t>(act.nb) * kPanelVecs * 64;
  ParallelFor(npanels, 1, [&](int64_t p0, int64_t p1) {
    std::unique_ptr<void, FreeAligned> buf(std::aligned_alloc(64, panel_bytes));
    SOV_CHECK(buf != nullptr) << "GgmlMatMulQ0: cannot allocate a " << panel_bytes
                              << "-byte weight panel";
    auto* panel = static_cast<__m512i*>(buf.get());
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p * kPanelRows;
      const int nrows = static_cast<int>(std::min<int64_t>(kPanelRows, w.rows - n));
      UnpackPanel<kT>(w, n, nrows, act.nb, panel);
      int64_t t = 0;
      for (; t + kPanelTokens <= T; t += kPanelTokens)
        PanelTile<kPanelTokens>(panel, act, start.data(), t, n, nrows, y, ldy);
      for (; t < T; ++t) PanelTile<1>(panel, act, start.data(), t, n, nrows, y, ldy);
    }
  });
}

}  // namespace

bool GgmlMatMulQ0Supports(DType t) { return t == DType::kQ8_0 || t == DType::kQ5_0; }

bool GgmlMatMulQ0FastAvailable() { return CpuHasVnni(); }
void SetGgmlMatMulQ0FastEnabled(bool enabled) { g_fast_enabled.store(enabled); }

void GgmlMatMulQ0(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                  int64_t ldy) {
  SOV_CHECK(GgmlMatMulQ0Supports(w.dtype))
      << "GgmlMatMulQ0: weight type " << Name(w.dtype) << " is not Q8_0 or Q5_0";
  const int64_t K = w.cols, N = w.rows;
  SOV_CHECK(K % kQK == 0) << "GgmlMatMulQ0: " << K << " columns are not whole blocks of " << kQK;
  const int64_t nb = K / kQK;

  // Step 1, once per call for every weight row.
  const size_t arow = ActRowBytes(ActFormat::kQ8_0, K);
  std::vector<uint8_t> act(arow * static_cast<size_t>(T));
  ParallelFor(T, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      QuantizeActRow(ActFormat::kQ8_0, x + t * ldx, K, act.data() + arow * t);
  });
  const Act a{act.data(), arow, nb};
  const bool fast =
      g_fast_enabled.load() && CpuHasVnni() && !HasWrappingActivation(act.data(), arow, T, nb);

  if (fast && T >= kPanelMinTokens) {
    if (w.dtype == DType::kQ8_0) {
      PanelsFast<DType::kQ8_0>(w, a, T, y, ldy);
    } else {
      PanelsFast<DType::kQ5_0>(w, a, T, y, ldy);
    }
    return;
  }

  // Rows in chunks of 32 (each output is computed whole by one task, so the
  // split cannot change results).
  constexpr int64_t kRowsPerChunk = 32;
  ParallelFor(N, kRowsPerChunk, [&](int64_t n0, int64_t n1) {
    for (int64_t t = 0; t < T; ++t) {
      if (fast && w.dtype == DType::kQ8_0) {
        OneTokenFast<DType::kQ8_0>(w, a, n0, n1, t, y, ldy);
      } else if (fast) {
        OneTokenFast<DType::kQ5_0>(w, a, n0, n1, t, y, ldy);
      } else {
        for (int64_t n = n0; n < n1; ++n)
          y[t * ldy + n] = DotPortable(w.dtype, w.row(n), a.blocks(t), nb);
      }
    }
  });
}

}  // namespace sov::kernels::internal
