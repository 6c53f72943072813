// Ops whose Highway version is not written yet forward to the scalar
// references so every declaration of kernels/api.h links.
#include "kernels/api.h"
#include "kernels/reference/reference.h"

namespace sov::kernels {

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
