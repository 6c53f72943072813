// Argmax with runtime target dispatch: a vector max pass, then the first
// index holding that value (so ties resolve to the lowest index exactly like
// the scalar reference).
#include "runtime/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/argmax.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/api.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

int64_t ArgmaxImpl(const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  float best = x[0];
  int64_t i = 0;
  if (n >= N) {
    auto m = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) m = hn::Max(m, hn::LoadU(df, x + i));
    best = hn::GetLane(hn::MaxOfLanes(df, m));
  }
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  // NaN never compares equal: fall back to the scalar rule (first strictly
  // greater value wins, NaNs skipped) so the answer is still in range.
  for (int64_t j = 0; j < n; ++j) {
    if (x[j] == best) return j;
  }
  int64_t arg = 0;
  for (int64_t j = 1; j < n; ++j) {
    if (x[j] > x[arg]) arg = j;
  }
  return arg;
}

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(ArgmaxImpl);

int64_t Argmax(const float* x, int64_t n) {
  SOV_CHECK(n > 0) << "Argmax of an empty vector";
  return HWY_DYNAMIC_DISPATCH(ArgmaxImpl)(x, n);
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
