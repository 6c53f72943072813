// RMSNorm and AddRMSNorm with runtime target dispatch; rows in parallel.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/norm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <algorithm>

#include "kernels/api.h"
#include "kernels/cpu/norm-inl.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

void RMSNormImpl(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
                 float eps, float* y, int64_t ldy) {
  RMSNormRows(x, n_rows, dim, ldx, weight, eps, y, ldy);
}

void AddRMSNormImpl(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                    int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                    int64_t ldy) {
  AddRMSNormRows(x, n_rows, dim, ldx, delta, ldd, w_post, w_next, eps, y, ldy);
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(RMSNormImpl);
HWY_EXPORT(AddRMSNormImpl);

namespace {
// Rows per task: at least ~32K elements so small norms stay on one thread.
int64_t RowGrain(int64_t dim) { return std::max<int64_t>(1, (int64_t{32} << 10) / std::max<int64_t>(dim, 1)); }
}  // namespace

void RMSNorm(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
             float eps, float* y, int64_t ldy) {
  ParallelFor(n_rows, RowGrain(dim), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(RMSNormImpl)(x + r0 * ldx, r1 - r0, dim, ldx, weight, eps, y + r0 * ldy,
                                      ldy);
  });
}

void AddRMSNorm(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                int64_t ldy) {
  ParallelFor(n_rows, RowGrain(dim), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(AddRMSNormImpl)(x + r0 * ldx, r1 - r0, dim, ldx, delta + r0 * ldd, ldd,
                                         w_post, w_next, eps, y ? y + r0 * ldy : nullptr, ldy);
  });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
