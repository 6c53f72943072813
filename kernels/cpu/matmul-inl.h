// MatMul y[t, n] = sum_k x[t, k] W[n, k] for one weight element type, per
// Highway target. Included by the per-dtype translation units
// (matmul_f32.cc, matmul_bf16.cc, matmul_f16.cc, matmul_quant.cc) and by the
// tests, which run it on every compiled target.
//
// Assumptions and guarantees:
//  * No alignment is required of x, y or the weight rows (unaligned loads).
//  * y does not alias x or W.
//  * Accumulation order of every output element is fixed: one vector
//    accumulator over k in steps of Lanes(df) (FMA), reduced with SumOfLanes,
//    then the < Lanes(df) tail columns added in order as scalars. Every tile
//    shape below performs exactly this sequence for each element, so results
//    depend neither on the thread count nor on where chunk boundaries fall.
//
// Blocking: the parallel loop runs over groups of 4 output columns (weight
// rows). Inside a chunk the tokens are processed in blocks of `tb` tokens
// sized so that a block of x stays in L2; each weight row is streamed from
// memory once per token block and reused from L1/L2 by every 4-token tile.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <tbb/task_arena.h>

#include "kernels/api.h"
#include "kernels/parallel.h"
#include "kernels/weight_row.h"

#if defined(SOV_KERNELS_CPU_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOV_KERNELS_CPU_MATMUL_INL_H_
#undef SOV_KERNELS_CPU_MATMUL_INL_H_
#else
#define SOV_KERNELS_CPU_MATMUL_INL_H_
#endif

#include "hwy/highway.h"
#include "kernels/cpu/dequant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Scalar decode of one weight element, bit-exact with the vector promotion.
HWY_INLINE float WeightToF32(float v) { return v; }
HWY_INLINE float WeightToF32(hwy::bfloat16_t v) { return Bf16ToF32(v.bits); }
HWY_INLINE float WeightToF32(hwy::float16_t v) { return F16ToF32(v.bits); }

template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const float* p) {
  return hn::LoadU(df, p);
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::bfloat16_t* p) {
  return hn::PromoteTo(df, hn::LoadU(hn::Rebind<hwy::bfloat16_t, DF>(), p));
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const hwy::float16_t* p) {
  return hn::PromoteTo(df, hn::LoadU(hn::Rebind<hwy::float16_t, DF>(), p));
}

// y[t, r] for t < NT, r < NR: tokens x + t*ldx, weight rows w[r].
template <size_t NT, size_t NR, class WT>
HWY_INLINE void MatMulTile(const float* HWY_RESTRICT x, int64_t ldx, const WT* const* w,
                           int64_t K, float* HWY_RESTRICT y, int64_t ldy) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  hn::Vec<decltype(df)> acc[NT][NR];
  for (size_t t = 0; t < NT; ++t) {
    for (size_t r = 0; r < NR; ++r) acc[t][r] = hn::Zero(df);
  }
  int64_t k = 0;
  for (; k + N <= K; k += N) {
    hn::Vec<decltype(df)> wv[NR];
    for (size_t r = 0; r < NR; ++r) wv[r] = LoadWeights(df, w[r] + k);
    for (size_t t = 0; t < NT; ++t) {
      const auto xv = hn::LoadU(df, x + static_cast<int64_t>(t) * ldx + k);
      for (size_t r = 0; r < NR; ++r) acc[t][r] = hn::MulAdd(xv, wv[r], acc[t][r]);
    }
  }
  for (size_t t = 0; t < NT; ++t) {
    const float* xt = x + static_cast<int64_t>(t) * ldx;
    for (size_t r = 0; r < NR; ++r) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[t][r]));
      for (int64_t kk = k; kk < K; ++kk) s += xt[kk] * WeightToF32(w[r][kk]);
      y[static_cast<int64_t>(t) * ldy + static_cast<int64_t>(r)] = s;
    }
  }
}

// Tokens [t0, t1) against NR weight rows: 4-token tiles, then single tokens.
template <size_t NR, class WT>
HWY_INLINE void MatMulRows(const float* x, int64_t ldx, int64_t t0, int64_t t1, const WT* const* w,
                           int64_t K, float* y, int64_t ldy) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) MatMulTile<4, NR>(x + t * ldx, ldx, w, K, y + t * ldy, ldy);
  for (; t < t1; ++t) MatMulTile<1, NR>(x + t * ldx, ldx, w, K, y + t * ldy, ldy);
}

// A group of kGroupRows weight rows: 4x4 tiles for token quads; the
// remaining single tokens use one 1x8 tile (8 independent accumulators keep
// more loads in flight, which is what decode, T = 1, is bound by).
inline constexpr int64_t kGroupRows = 8;

template <class WT>
HWY_INLINE void MatMulGroup(const float* x, int64_t ldx, int64_t t0, int64_t t1,
                            const WT* const* rows, int64_t nr, int64_t K, float* y, int64_t ldy) {
  if (nr == kGroupRows) {
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) {
      MatMulTile<4, 4>(x + t * ldx, ldx, rows, K, y + t * ldy, ldy);
      MatMulTile<4, 4>(x + t * ldx, ldx, rows + 4, K, y + t * ldy + 4, ldy);
    }
    for (; t < t1; ++t) MatMulTile<1, 8>(x + t * ldx, ldx, rows, K, y + t * ldy, ldy);
    return;
  }
  int64_t r = 0;
  for (; r + 4 <= nr; r += 4) MatMulRows<4>(x, ldx, t0, t1, rows + r, K, y + r, ldy);
  for (; r < nr; ++r) MatMulRows<1>(x, ldx, t0, t1, rows + r, K, y + r, ldy);
}

// Tokens per block: keep a block of x (tb * K floats) within ~256 KiB of L2.
inline int64_t TokenBlock(int64_t K) {
  const int64_t tb = (int64_t{256} * 1024 / 4) / std::max<int64_t>(K, 1);
  return std::clamp<int64_t>(tb & ~int64_t{3}, 4, 64);
}

// Groups of 4 weight rows per parallel chunk: about 8 chunks per thread for
// load balance, never fewer than 1 group. Only performance depends on it.
inline int64_t GroupGrain(int64_t n_groups) {
  const int64_t threads = std::max(1, tbb::this_task_arena::max_concurrency());
  return std::max<int64_t>(1, n_groups / (8 * threads));
}

// Weights stored as WT (float, bf16 or f16), read in place.
template <class WT>
void MatMulDirect(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                  int64_t ldy) {
  const int64_t K = w.cols;
  const int64_t n_groups = (w.rows + kGroupRows - 1) / kGroupRows;
  const int64_t tb = TokenBlock(K);
  ParallelFor(n_groups, GroupGrain(n_groups), [&](int64_t g0, int64_t g1) {
    for (int64_t b0 = 0; b0 < T; b0 += tb) {
      const int64_t b1 = std::min(T, b0 + tb);
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t n0 = g * kGroupRows;
        const int64_t nr = std::min<int64_t>(kGroupRows, w.rows - n0);
        const WT* rows[kGroupRows];
        for (int64_t r = 0; r < nr; ++r) rows[r] = reinterpret_cast<const WT*>(w.row(n0 + r));
        MatMulGroup(x, ldx, b0, b1, rows, nr, K, y + n0, ldy);
      }
    }
  });
}

// Block-quantized weights: each group of rows is dequantized into a
// per-thread f32 buffer once per token block (vector dequantizers for Q8_0,
// Q4_K, Q5_K, Q6_K; quant's DequantizeRow otherwise), then uses the f32 tiles.
inline void MatMulDequant(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                          int64_t ldy) {
  const int64_t K = w.cols;
  const int64_t n_groups = (w.rows + kGroupRows - 1) / kGroupRows;
  const int64_t tb = TokenBlock(K);
  ParallelFor(n_groups, GroupGrain(n_groups), [&](int64_t g0, int64_t g1) {
    thread_local std::vector<float> buf;
    buf.resize(static_cast<size_t>(kGroupRows * K));
    for (int64_t b0 = 0; b0 < T; b0 += tb) {
      const int64_t b1 = std::min(T, b0 + tb);
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t n0 = g * kGroupRows;
        const int64_t nr = std::min<int64_t>(kGroupRows, w.rows - n0);
        const float* rows[kGroupRows];
        for (int64_t r = 0; r < nr; ++r) {
          if (!DequantRowFast(w.dtype, w.row(n0 + r), buf.data() + r * K, K)) {
            DecodeRow(w, n0 + r, buf.data() + r * K);
          }
          rows[r] = buf.data() + r * K;
        }
        MatMulGroup(x, ldx, b0, b1, rows, nr, K, y + n0, ldy);
      }
    }
  });
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
