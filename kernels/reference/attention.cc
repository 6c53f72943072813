// Reference attention: explicit scores over the visible keys, exact softmax in
// double.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/reference/reference.h"
#include "quant/float16.h"
#include "runtime/check.h"

namespace sov::kernels::ref {

void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << "Attention: n_q_heads " << p.n_q_heads << " not a multiple of n_kv_heads "
      << p.n_kv_heads;
  SOV_CHECK(p.cache_rows > 0 && p.head_dim > 0) << "Attention: empty cache or head";
  const int64_t group = p.n_q_heads / p.n_kv_heads;
  const int64_t d = p.head_dim;
  std::vector<double> s, acc(static_cast<size_t>(d));
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t qp = p.pos0 + t;
    const int64_t k_lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
    for (int64_t h = 0; h < p.n_q_heads; ++h) {
      const int64_t kvh = h / group;
      const float* qv = q + t * ldq + h * d;
      s.assign(static_cast<size_t>(qp - k_lo + 1), 0.0);
      double m = -INFINITY;
      for (int64_t kp = k_lo; kp <= qp; ++kp) {
        const float* kv = p.k_cache + (kp % p.cache_rows) * p.ld_kv + kvh * d;
        double dot = 0.0;
        for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(qv[i]) * kv[i];
        dot *= p.scale;
        s[kp - k_lo] = dot;
        m = std::max(m, dot);
      }
      double sum = 0.0;
      for (double& e : s) {
        e = std::exp(e - m);
        sum += e;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t kp = k_lo; kp <= qp; ++kp) {
        const float* vv = p.v_cache + (kp % p.cache_rows) * p.ld_kv + kvh * d;
        const double pr = s[kp - k_lo] / sum;
        for (int64_t i = 0; i < d; ++i) acc[i] += pr * vv[i];
      }
      float* o = out + t * ldo + h * d;
      for (int64_t i = 0; i < d; ++i) o[i] = static_cast<float>(acc[i]);
    }
  }
}

void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << "AttentionF16: n_q_heads " << p.n_q_heads << " not a multiple of n_kv_heads "
      << p.n_kv_heads;
  SOV_CHECK(p.cache_rows > 0 && p.head_dim > 0 && p.k_cache_f16 && p.v_cache_f16)
      << "AttentionF16: empty cache or head";
  const int64_t group = p.n_q_heads / p.n_kv_heads;
  const int64_t d = p.head_dim;
  std::vector<double> s, acc(static_cast<size_t>(d));
  std::vector<float> q16(static_cast<size_t>(d));
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t qp = p.pos0 + t;
    const int64_t k_lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
    for (int64_t h = 0; h < p.n_q_heads; ++h) {
      const int64_t kvh = h / group;
      const float* qv = q + t * ldq + h * d;
      for (int64_t i = 0; i < d; ++i) q16[i] = Fp16ToFp32(Fp32ToFp16(qv[i] * p.scale));
      s.assign(static_cast<size_t>(qp - k_lo + 1), 0.0);
      double m = -INFINITY;
      for (int64_t kp = k_lo; kp <= qp; ++kp) {
        const uint16_t* kv = p.k_cache_f16 + (kp % p.cache_rows) * p.ld_kv + kvh * d;
        double dot = 0.0;
        for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(q16[i]) * Fp16ToFp32(kv[i]);
        s[kp - k_lo] = dot;
        m = std::max(m, dot);
      }
      double sum = 0.0;
      for (double& e : s) {
        e = std::exp(e - m);
        sum += e;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t kp = k_lo; kp <= qp; ++kp) {
        const uint16_t* vv = p.v_cache_f16 + (kp % p.cache_rows) * p.ld_kv + kvh * d;
        const double pr = Fp16ToFp32(Fp32ToFp16(static_cast<float>(s[kp - k_lo] / sum)));
        for (int64_t i = 0; i < d; ++i) acc[i] += pr * Fp16ToFp32(vv[i]);
      }
      float* o = out + t * ldo + h * d;
      for (int64_t i = 0; i < d; ++i) o[i] = static_cast<float>(acc[i]);
    }
  }
}

void KvAppend(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
              int64_t pos0, float* k_cache, float* v_cache, int64_t cache_rows, int64_t ld_kv,
              int64_t row_width) {
  SOV_CHECK(cache_rows > 0 && row_width <= ld_kv) << "KvAppend: bad cache geometry";
  for (int64_t t = 0; t < T; ++t) {
    const int64_t r = (pos0 + t) % cache_rows;
    std::memcpy(k_cache + r * ld_kv, k_new + t * ldk, static_cast<size_t>(row_width) * 4);
    std::memcpy(v_cache + r * ld_kv, v_new + t * ldv, static_cast<size_t>(row_width) * 4);
  }
}

}  // namespace sov::kernels::ref
