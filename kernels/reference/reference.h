// Scalar oracles for every op of kernels/api.h: plain loops, double
// accumulation for reductions, no SIMD, no threads. They define what the fast
// kernels must compute; tests compare against them. Same signatures and
// contracts as the declarations in kernels/api.h.
#ifndef SOV_KERNELS_REFERENCE_REFERENCE_H_
#define SOV_KERNELS_REFERENCE_REFERENCE_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels::ref {

void MatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
// The integer path of MatMul for Q4_K / Q5_K / Q6_K / Q8_0 / Q4_0 / Q5_0 / Q4_1 /
// Q5_1 weights (activation quantization, exact block sums, fixed float order:
// kernels/cpu/qmatmul.h).
// ref::MatMul above is the f32 path (decoded weights, double accumulation).
void QuantMatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                 int64_t ldy);

void RMSNorm(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
             float eps, float* y, int64_t ldy);
void AddRMSNorm(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                int64_t ldy);
void GeluTanhMul(const float* gate, int64_t ldg, const float* up, int64_t ldu, int64_t n_rows,
                 int64_t n, float* out, int64_t ldo);
void Softcap(float* x, int64_t n, float cap);
void Scale(float* x, int64_t n, float s);
void Add(const float* x, float* y, int64_t n);

void EmbeddingGather(const WeightView& table, const int32_t* ids, int64_t T, float scale,
                     float* out, int64_t ldo);
void PleAssemble(const float* ctx, const float* tok, int64_t T, int64_t L, int64_t P,
                 const float* norm_w, float eps, float ctx_scale, float out_scale, float* out);

void RoPE(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq);

void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo);
void KvAppend(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
              int64_t pos0, float* k_cache, float* v_cache, int64_t cache_rows, int64_t ld_kv,
              int64_t row_width);

// Same rounding points as kernels::AttentionF16 (q16, p16), dots and sums in
// double; the fast kernel differs only by its f32 accumulation.
void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo);

void MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, const float* per_expert_scale,
              int32_t* idx, float* w);
int64_t MoeExpertsScratchFloats(const ExpertBank& bank, int64_t T, int64_t k);
void MoeExperts(const ExpertBank& bank, const float* x, int64_t T, int64_t ldx,
                const int32_t* idx, const float* w, int64_t k, float* out, int64_t ldo,
                float* scratch);

int64_t Argmax(const float* x, int64_t n);

// Scalar gelu_tanh in double, the definition in kernels/api.h.
double GeluTanh(double z);

}  // namespace sov::kernels::ref

#endif  // SOV_KERNELS_REFERENCE_REFERENCE_H_
