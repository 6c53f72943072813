// Reference norms and element-wise ops.
#include <cmath>
#include <vector>

#include "kernels/reference/reference.h"
#include "runtime/check.h"

namespace sov::kernels::ref {
namespace {

// y = x * (mean(x^2) + eps)^-1/2 * (w or 1), mean in double, product in float
// after the scale is rounded to float (as every fp32 implementation does).
void NormRow(const float* x, int64_t dim, const float* w, float eps, float* y) {
  double ss = 0.0;
  for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + static_cast<double>(eps));
  for (int64_t i = 0; i < dim; ++i) {
    const double v = static_cast<double>(x[i]) * inv;
    y[i] = static_cast<float>(w ? v * w[i] : v);
  }
}

}  // namespace

double GeluTanh(double z) {
  constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
  return 0.5 * z * (1.0 + std::tanh(kSqrt2OverPi * (z + 0.044715 * z * z * z)));
}

void RMSNorm(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
             float eps, float* y, int64_t ldy) {
  for (int64_t r = 0; r < n_rows; ++r) NormRow(x + r * ldx, dim, weight, eps, y + r * ldy);
}

void AddRMSNorm(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                int64_t ldy) {
  std::vector<float> tmp(static_cast<size_t>(dim));
  for (int64_t r = 0; r < n_rows; ++r) {
    float* xr = x + r * ldx;
    NormRow(delta + r * ldd, dim, w_post, eps, tmp.data());
    for (int64_t i = 0; i < dim; ++i) xr[i] += tmp[i];
    if (y != nullptr) NormRow(xr, dim, w_next, eps, y + r * ldy);
  }
}

void GeluTanhMul(const float* gate, int64_t ldg, const float* up, int64_t ldu, int64_t n_rows,
                 int64_t n, float* out, int64_t ldo) {
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      out[r * ldo + i] =
          static_cast<float>(GeluTanh(gate[r * ldg + i]) * static_cast<double>(up[r * ldu + i]));
    }
  }
}

void Softcap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
  }
}

void Scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void Add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void PleAssemble(const float* ctx, const float* tok, int64_t T, int64_t L, int64_t P,
                 const float* norm_w, float eps, float ctx_scale, float out_scale, float* out) {
  std::vector<float> scaled(static_cast<size_t>(P)), normed(static_cast<size_t>(P));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t l = 0; l < L; ++l) {
      const int64_t off = t * L * P + l * P;
      for (int64_t i = 0; i < P; ++i) scaled[i] = ctx[off + i] * ctx_scale;
      NormRow(scaled.data(), P, norm_w, eps, normed.data());
      for (int64_t i = 0; i < P; ++i) out[off + i] = (normed[i] + tok[off + i]) * out_scale;
    }
  }
}

void RoPE(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq) {
  SOV_CHECK(head_dim % 2 == 0) << "RoPE: head_dim must be even, got " << head_dim;
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      // Angle and cos/sin in float32, as the API specifies (HF builds them in
      // fp32); the rotation itself in double.
      const float angle = static_cast<float>(pos[t]) * inv_freq[i];
      const double c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + t * ldx + h * head_dim;
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<float>(a * c - b * s);
        v[i + half] = static_cast<float>(b * c + a * s);
      }
    }
  }
}

int64_t Argmax(const float* x, int64_t n) {
  SOV_CHECK(n > 0) << "Argmax of an empty vector";
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace sov::kernels::ref
