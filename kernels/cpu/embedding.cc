// EmbeddingGather and PleAssemble with runtime target dispatch; tokens in
// parallel (each output row is written by one task).
#include <algorithm>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/embedding.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/api.h"
#include "kernels/cpu/matmul-inl.h"  // LoadWeights, WeightToF32
#include "kernels/cpu/norm-inl.h"
#include "kernels/parallel.h"
#include "kernels/weight_row.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

// out[i] = float(row[i]) * scale; out may equal row (quantized path).
template <class WT>
HWY_INLINE void ScaledRow(const WT* row, int64_t n, float scale, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(LoadWeights(df, row + i), vs), df, out + i);
  for (; i < n; ++i) out[i] = WeightToF32(row[i]) * scale;
}

void GatherRowImpl(const WeightView& table, int64_t id, float scale, float* out) {
  const uint8_t* row = table.row(id);
  switch (table.dtype) {
    case DType::kF32:
      return ScaledRow(reinterpret_cast<const float*>(row), table.cols, scale, out);
    case DType::kBF16:
      return ScaledRow(reinterpret_cast<const hwy::bfloat16_t*>(row), table.cols, scale, out);
    case DType::kF16:
      return ScaledRow(reinterpret_cast<const hwy::float16_t*>(row), table.cols, scale, out);
    default:
      if (!DequantRowFast(table.dtype, row, out, table.cols)) DecodeRow(table, id, out);
      return ScaledRow(out, table.cols, scale, out);
  }
}

void PleAssembleImpl(const float* ctx, const float* tok, int64_t t0, int64_t t1, int64_t L,
                     int64_t P, const float* norm_w, float eps, float ctx_scale, float out_scale,
                     float* out) {
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t l = 0; l < L; ++l) {
      const int64_t off = (t * L + l) * P;
      const float inv = InvRms(SumOfSquares(ctx + off, P, ctx_scale), P, eps);
      NormScaleRow(ctx + off, P, ctx_scale, inv, norm_w, tok + off, out_scale, out + off);
    }
  }
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(GatherRowImpl);
HWY_EXPORT(PleAssembleImpl);

void EmbeddingGather(const WeightView& table, const int32_t* ids, int64_t T, float scale,
                     float* out, int64_t ldo) {
  SOV_CHECK(ldo >= table.cols) << "EmbeddingGather: ldo " << ldo << " < cols " << table.cols;
  SOV_CHECK(CanDecodeRows(table.dtype))
      << "EmbeddingGather: table dtype " << Name(table.dtype) << " is not supported";
  for (int64_t t = 0; t < T; ++t) {
    SOV_CHECK(ids[t] >= 0 && ids[t] < table.rows)
        << "EmbeddingGather: id " << ids[t] << " out of range [0, " << table.rows << ")";
  }
  ParallelFor(T, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      HWY_DYNAMIC_DISPATCH(GatherRowImpl)(table, ids[t], scale, out + t * ldo);
    }
  });
}

void PleAssemble(const float* ctx, const float* tok, int64_t T, int64_t L, int64_t P,
                 const float* norm_w, float eps, float ctx_scale, float out_scale, float* out) {
  ParallelFor(T, 1, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(PleAssembleImpl)(ctx, tok, b, e, L, P, norm_w, eps, ctx_scale,
                                          out_scale, out);
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
