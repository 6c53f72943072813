// MatMul for BF16 weights (one translation unit per weight type keeps the
// per-target object files small and lets them compile in parallel).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "kernels/cpu/matmul-inl.h"
#include "kernels/cpu/matmul_internal.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

void MatMulBF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
              int64_t ldy) {
  MatMulDirect<hwy::bfloat16_t>(x, T, ldx, w, y, ldy);
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(MatMulBF16);

void internal::MatMulBF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                        int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(MatMulBF16)(x, T, ldx, w, y, ldy);
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
