// Ops whose Highway version is not written yet forward to the scalar
// references so every declaration of kernels/api.h links.
#include "kernels/api.h"
#include "kernels/reference/reference.h"

namespace sov::kernels {

void RoPE(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq) {
  ref::RoPE(x, T, ldx, n_heads, head_dim, pos, inv_freq);
}
void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  ref::Attention(p, q, ldq, out, ldo);
}
void KvAppend(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
              int64_t pos0, float* k_cache, float* v_cache, int64_t cache_rows, int64_t ld_kv,
              int64_t row_width) {
  ref::KvAppend(k_new, ldk, v_new, ldv, T, pos0, k_cache, v_cache, cache_rows, ld_kv, row_width);
}
void MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, const float* per_expert_scale,
              int32_t* idx, float* w) {
  ref::MoeRoute(logits, T, E, k, per_expert_scale, idx, w);
}
int64_t MoeExpertsScratchFloats(const ExpertBank& bank, int64_t T, int64_t k) {
  return ref::MoeExpertsScratchFloats(bank, T, k);
}
void MoeExperts(const ExpertBank& bank, const float* x, int64_t T, int64_t ldx,
                const int32_t* idx, const float* w, int64_t k, float* out, int64_t ldo,
                float* scratch) {
  ref::MoeExperts(bank, x, T, ldx, idx, w, k, out, ldo, scratch);
}

}  // namespace sov::kernels
