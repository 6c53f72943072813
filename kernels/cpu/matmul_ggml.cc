// kernels::MatMulGgml: each weight type to the kernel that reproduces the
// float order llama.cpp's x86 CPU backend uses for it (kernels/api.h).
#include "kernels/api.h"
#include "kernels/cpu/ggml_q0.h"
#include "kernels/cpu/ggml_q4k.h"
#include "kernels/cpu/ggml_q6k.h"

namespace sov::kernels {

void MatMulGgml(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                int64_t ldy) {
  if (internal::GgmlMatMulQ0Supports(w.dtype)) {
    internal::GgmlMatMulQ0(x, T, ldx, w, y, ldy);
    return;
  }
  if (internal::GgmlMatMulQ4KSupports(w)) {
    internal::GgmlMatMulQ4K(x, T, ldx, w, y, ldy);
    return;
  }
  if (internal::GgmlMatMulQ6KSupports(w)) {
    internal::GgmlMatMulQ6K(x, T, ldx, w, y, ldy);
    return;
  }
  MatMul(x, T, ldx, w, y, ldy);
}

}  // namespace sov::kernels
