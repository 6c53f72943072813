// MatMul for F16 weights (one translation unit per weight type keeps the
// per-target object files small and lets them compile in parallel).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul_f16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "kernels/cpu/matmul-inl.h"
#include "kernels/cpu/matmul_internal.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

void MatMulF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
              int64_t ldy) {
  MatMulDirect<hwy::float16_t>(x, T, ldx, w, y, ldy);
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(MatMulF16);

void internal::MatMulF16(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                        int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(MatMulF16)(x, T, ldx, w, y, ldy);
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
