// Attention and KvAppend entry points: parameter validation and runtime
// target dispatch (the kernel is in attention-inl.h).
#include <cstring>

#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "kernels/api.h"
#include "kernels/cpu/attention-inl.h"

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
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << "Attention: n_q_heads " << p.n_q_heads << " is not a multiple of n_kv_heads "
      << p.n_kv_heads;
  SOV_CHECK(p.head_dim > 0 && p.T >= 0 && p.pos0 >= 0 && p.window >= 0)
      << "Attention: bad geometry (head_dim " << p.head_dim << ", T " << p.T << ", pos0 "
      << p.pos0 << ", window " << p.window << ")";
  SOV_CHECK(ldq >= p.n_q_heads * p.head_dim && ldo >= p.n_q_heads * p.head_dim &&
            p.ld_kv >= p.n_kv_heads * p.head_dim)
      << "Attention: a row stride is smaller than its row";
  if (p.T == 0) return;
  // Every visible key must still be in the (ring) cache.
  const int64_t oldest = p.window > 0 ? std::max<int64_t>(0, p.pos0 - p.window + 1) : 0;
  SOV_CHECK(p.cache_rows >= p.pos0 + p.T - oldest)
      << "Attention: cache_rows " << p.cache_rows << " cannot hold positions " << oldest
      << ".." << p.pos0 + p.T - 1;
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
