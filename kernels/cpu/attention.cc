// Attention and KvAppend entry points: parameter validation and runtime
// target dispatch (the kernel is in attention-inl.h).
#include <cstring>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "kernels/api.h"
#include "kernels/cpu/attention-inl.h"
#include "kernels/cpu/attention_check.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

void AttentionDispatch(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                       int64_t ldo) {
  AttentionImpl(p, q, ldq, out, ldo);
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(AttentionDispatch);

void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  internal::CheckAttentionGeometry("Attention", p, ldq, ldo);
  if (p.T == 0) return;
  HWY_DYNAMIC_DISPATCH(AttentionDispatch)(p, q, ldq, out, ldo);
}

void KvAppend(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
              int64_t pos0, float* k_cache, float* v_cache, int64_t cache_rows, int64_t ld_kv,
              int64_t row_width) {
  SOV_CHECK(cache_rows > 0 && row_width <= ld_kv && row_width <= ldk && row_width <= ldv)
      << "KvAppend: bad cache geometry";
  // A prefill longer than a ring buffer only keeps its last cache_rows rows;
  // writing the earlier ones would be overwritten anyway.
  const int64_t t_begin = std::max<int64_t>(0, T - cache_rows);
  for (int64_t t = t_begin; t < T; ++t) {
    const int64_t r = (pos0 + t) % cache_rows;
    std::memcpy(k_cache + r * ld_kv, k_new + t * ldk, static_cast<size_t>(row_width) * 4);
    std::memcpy(v_cache + r * ld_kv, v_new + t * ldv, static_cast<size_t>(row_width) * 4);
  }
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
