// Geometry checks shared by Attention and AttentionF16: invariants the plan
// guarantees, so a violation aborts with the failing numbers.
#ifndef SOV_KERNELS_CPU_ATTENTION_CHECK_H_
#define SOV_KERNELS_CPU_ATTENTION_CHECK_H_

#include <algorithm>
#include <cstdint>

#include "kernels/api.h"
#include "runtime/check.h"

namespace sov::kernels::internal {

inline void CheckAttentionGeometry(const char* op, const AttentionParams& p, int64_t ldq,
                                   int64_t ldo) {
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << op << ": n_q_heads " << p.n_q_heads << " is not a multiple of n_kv_heads "
      << p.n_kv_heads;
  SOV_CHECK(p.head_dim > 0 && p.T >= 0 && p.pos0 >= 0 && p.window >= 0)
      << op << ": bad geometry (head_dim " << p.head_dim << ", T " << p.T << ", pos0 " << p.pos0
      << ", window " << p.window << ")";
  SOV_CHECK(ldq >= p.n_q_heads * p.head_dim && ldo >= p.n_q_heads * p.head_dim &&
            p.ld_kv >= p.n_kv_heads * p.head_dim)
      << op << ": a row stride is smaller than its row";
  if (p.T == 0) return;
  // Every visible key must still be in the (ring) cache.
  const int64_t oldest = p.window > 0 ? std::max<int64_t>(0, p.pos0 - p.window + 1) : 0;
  SOV_CHECK(p.cache_rows >= p.pos0 + p.T - oldest)
      << op << ": cache_rows " << p.cache_rows << " cannot hold positions " << oldest << ".."
      << p.pos0 + p.T - 1;
}

}  // namespace sov::kernels::internal

#endif  // SOV_KERNELS_CPU_ATTENTION_CHECK_H_
