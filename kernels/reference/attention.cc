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

namespace {

// The oracle loop of both cache types. f16: the KV cache is fp16 bits and the
// rounding points of kernels::AttentionF16 apply (q16 = f16(scale q) before
// the dot, p16 = f16(p) before P V); otherwise f32 rows, scale after the dot.
void AttentionOracle(const AttentionParams& p, const float* q, int64_t ldq, float* out,
                     int64_t ldo, bool f16) {
  const char* op = f16 ? "AttentionF16" : "Attention";
  SOV_CHECK(p.n_kv_heads > 0 && p.n_q_heads % p.n_kv_heads == 0)
      << op << ": n_q_heads " << p.n_q_heads << " not a multiple of n_kv_heads " << p.n_kv_heads;
  SOV_CHECK(p.cache_rows > 0 && p.head_dim > 0 && (!f16 || (p.k_cache_f16 && p.v_cache_f16)))
      << op << ": empty cache or head";
  const int64_t group = p.n_q_heads / p.n_kv_heads;
  const int64_t d = p.head_dim;
  // Element i of the cache row holding position kp for KV head kvh.
  auto at = [&](const float* c32, const uint16_t* c16, int64_t kp, int64_t kvh, int64_t i) {
    const int64_t off = (kp % p.cache_rows) * p.ld_kv + kvh * d + i;
    return f16 ? static_cast<double>(Fp16ToFp32(c16[off])) : static_cast<double>(c32[off]);
  };
  std::vector<double> s, acc(static_cast<size_t>(d)), qv(static_cast<size_t>(d));
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t qp = p.pos0 + t;
    const int64_t k_lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
    for (int64_t h = 0; h < p.n_q_heads; ++h) {
      const int64_t kvh = h / group;
      const float* qrow = q + t * ldq + h * d;
      for (int64_t i = 0; i < d; ++i) {
        qv[i] = f16 ? Fp16ToFp32(Fp32ToFp16(qrow[i] * p.scale)) : qrow[i];
      }
      s.assign(static_cast<size_t>(qp - k_lo + 1), 0.0);
      double m = -INFINITY;
      for (int64_t kp = k_lo; kp <= qp; ++kp) {
        double dot = 0.0;
        for (int64_t i = 0; i < d; ++i) dot += qv[i] * at(p.k_cache, p.k_cache_f16, kp, kvh, i);
        if (!f16) dot *= p.scale;
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
        double pr = s[kp - k_lo] / sum;
        if (f16) pr = Fp16ToFp32(Fp32ToFp16(static_cast<float>(pr)));
        for (int64_t i = 0; i < d; ++i) acc[i] += pr * at(p.v_cache, p.v_cache_f16, kp, kvh, i);
      }
      float* o = out + t * ldo + h * d;
      for (int64_t i = 0; i < d; ++i) o[i] = static_cast<float>(acc[i]);
    }
  }
}

}  // namespace

void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  AttentionOracle(p, q, ldq, out, ldo, /*f16=*/false);
}

void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo) {
  AttentionOracle(p, q, ldq, out, ldo, /*f16=*/true);
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
