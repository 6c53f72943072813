// GeluTanhMul, Softcap, Scale, Add with runtime target dispatch. Work is split
// into fixed chunks (element-wise ops have no reductions, so any split gives
// identical results).
#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "kernels/api.h"
#include "kernels/cpu/elementwise-inl.h"
#include "kernels/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {

void GeluTanhMulImpl(const float* gate, const float* up, int64_t n, float* out) {
  GeluTanhMulRow(gate, up, n, out);
}
void SoftcapImpl(float* x, int64_t n, float cap) { SoftcapRow(x, n, cap); }
void ScaleImpl(float* x, int64_t n, float s) { ScaleRow(x, n, s); }
void AddImpl(const float* x, float* y, int64_t n) { AddRow(x, y, n); }

}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
HWY_EXPORT(GeluTanhMulImpl);
HWY_EXPORT(SoftcapImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AddImpl);

namespace {
// Elements per task for the cheap ops, and for the tanh-based ones (a
// multiple of every vector width, so only the last chunk has a tail).
constexpr int64_t kCheapGrain = 1 << 16;
constexpr int64_t kTanhGrain = 1 << 13;
}  // namespace

void GeluTanhMul(const float* gate, int64_t ldg, const float* up, int64_t ldu, int64_t n_rows,
                 int64_t n, float* out, int64_t ldo) {
  const int64_t chunks = (n + kTanhGrain - 1) / kTanhGrain;
  ParallelFor(n_rows * chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = i / chunks, c0 = (i % chunks) * kTanhGrain;
      const int64_t len = std::min(kTanhGrain, n - c0);
      HWY_DYNAMIC_DISPATCH(GeluTanhMulImpl)(gate + r * ldg + c0, up + r * ldu + c0, len,
                                            out + r * ldo + c0);
    }
  });
}

void Softcap(float* x, int64_t n, float cap) {
  ParallelFor(n, kTanhGrain, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(SoftcapImpl)(x + b, e - b, cap);
  });
}

void Scale(float* x, int64_t n, float s) {
  ParallelFor(n, kCheapGrain,
              [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x + b, e - b, s); });
}

void Add(const float* x, float* y, int64_t n) {
  ParallelFor(n, kCheapGrain,
              [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(AddImpl)(x + b, y + b, e - b); });
}

}  // namespace sov::kernels
#endif  // HWY_ONCE
