// Backend-neutral kernel signatures. Every op the compiled Plan executes is
// declared here; `kernels/reference/` holds the scalar oracle of each
// (namespace sov::kernels::ref, same signatures) and `kernels/cpu/` the
// Highway versions with runtime dispatch (these functions in
// namespace sov::kernels).
//
// Conventions (all ops):
//  * Activations are float32, row-major; a "row" is one token. `ld*` are row
//    strides in elements (>= the row width) so ops can read/write slices of a
//    wider buffer (e.g. one head's columns).
//  * Outputs never alias inputs unless the comment says "in place".
//  * Reductions have a fixed order per output element that does not depend on
//    the number of threads: results are bitwise identical across thread counts.
//  * Threads come from the caller's oneTBB arena (see kernels/parallel.h).
#ifndef SOV_KERNELS_API_H_
#define SOV_KERNELS_API_H_

#include <cstddef>
#include <cstdint>

#include "quant/dtype.h"

namespace sov::kernels {

// A 2-D weight matrix W[rows][cols] in PyTorch Linear layout ([out, in]); each
// row is `row_bytes` bytes of `dtype` (F32, BF16, F16, Q8_0, Q4_K, Q5_K, Q6_K;
// quantized blocks run along `cols`). Not owned.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;

  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes;
  }
};

// ---- Linear algebra ------------------------------------------------------------

// y[t, n] = sum_k x[t, k] * W[n, k]      for t < T, n < w.rows, k < w.cols.
// Per output element the dot product is accumulated in a fixed order that
// depends neither on the thread count nor on T (row t of a batched call is
// bitwise equal to a T = 1 call on x[t]). F32/BF16/F16 weights are read in
// place. Q4_K, Q5_K, Q6_K and Q8_0 weights go, by default, through ggml's
// integer dot products: each activation row is first quantized (Q8_K for the
// K-quants, Q8_0 for Q8_0, with quant/'s reference quantizers), then exact
// integer block sums are combined in float in a fixed order (kernels/cpu/
// qmatmul.h; oracle: ref::QuantMatMul). This is what llama.cpp computes and
// touches 4-8x fewer bytes per multiply-add than dequantizing to f32, at the
// price of the activation rounding (relative ~1/254 per element). Mode
// kDequantF32 (or SOV_QMATMUL=f32 in the environment) keeps the older
// arithmetic: rows dequantized to f32 a few at a time, f32 dot products
// (oracle: ref::MatMul). Q4_0, Q4_1, Q5_0, Q5_1 always take that path.
// Other dtypes abort.
void MatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy);

// MatMul with the float order of llama.cpp's x86 CPU backend for the weight
// type (the "ggml" numerics, runtime/numerics.h): y is bitwise what
// libggml-cpu's ggml_mul_mat gives for the same weight bytes and activations,
// for the number of rows T of this call. Reproduced: Q8_0 and Q5_0
// (llamafile's tinyBLAS / vec_dot, kernels/cpu/ggml_q0.h), Q4_K with rows % 8
// == 0 (the repacked 8x8 gemv / gemm, kernels/cpu/ggml_q4k.h), Q6_K (vec_dot
// below 8 rows, the tiled kernel from 8, kernels/cpu/ggml_q6k.h). Other types
// (Q4_0, Q4_1, Q5_1, Q5_K, Q8_K-family, other Q4_K) take MatMul.
void MatMulGgml(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y,
                int64_t ldy);

enum class QuantMatMulMode { kInteger, kDequantF32 };
// Process-wide; the initial value comes from SOV_QMATMUL (unset or "int":
// kInteger, "f32": kDequantF32). Not meant to change while MatMuls run.
void SetQuantMatMulMode(QuantMatMulMode mode);
QuantMatMulMode GetQuantMatMulMode();

// ---- Normalisation and element-wise ------------------------------------------

// The "llama.cpp" numerics (runtime/numerics.h) use *Ggml variants of some
// ops below: same signatures, bitwise llama.cpp's x86 CPU arithmetic. The
// steps each reproduces are written out in kernels/cpu/<op>_ggml.h.

// y[r, :] = x[r, :] * (mean(x[r, :]^2) + eps)^-1/2 * (weight ? weight : 1)
// over `dim` columns; rows < n_rows. May run in place (y == x, same ld).
void RMSNorm(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
             float eps, float* y, int64_t ldy);

// Fused residual: x[r, :] += RMSNorm(delta[r, :]; w_post)  (in place on x), then
// if `y` != nullptr: y[r, :] = RMSNorm(x[r, :]; w_next) (w_next may be null =
// no weight). All norms over `dim`, epsilon `eps`.
void AddRMSNorm(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                int64_t ldy);

// out[r, i] = gelu_tanh(gate[r, i]) * up[r, i],  i < n.
// gelu_tanh(z) = 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
void GeluTanhMul(const float* gate, int64_t ldg, const float* up, int64_t ldu, int64_t n_rows,
                 int64_t n, float* out, int64_t ldo);

// llama.cpp's CPU GELU (ggml "GGML_GELU_FP16"): the gate is rounded to fp16
// and looked up in a 65536-entry table of fp16(gelu_tanh_f32(h)), except
// gate <= -10 -> 0 and gate >= 10 -> gate; then times `up` in f32:
//   out = (g <= -10) ? 0 : (g >= 10) ? g * u : f32(table[f16(g)]) * u.
// Used by the "ggml" numerics (runtime/numerics.h) to reproduce llama.cpp.
void GeluTanhMulF16Table(const float* gate, int64_t ldg, const float* up, int64_t ldu,
                         int64_t n_rows, int64_t n, float* out, int64_t ldo);
// The table entry for the fp16 bits `h` (exposed for tests).
uint16_t GeluF16TableEntry(uint16_t h);

// RMSNorm / AddRMSNorm as ggml_rms_norm + ggml_mul (+ ggml_add, unfused):
// sequential double sum of float squares (kernels/cpu/elementwise_ggml.h).
void RMSNormGgml(const float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* weight,
                 float eps, float* y, int64_t ldy);
void AddRMSNormGgml(float* x, int64_t n_rows, int64_t dim, int64_t ldx, const float* delta,
                    int64_t ldd, const float* w_post, const float* w_next, float eps, float* y,
                    int64_t ldy);

// x[i] = cap * tanh(x[i] / cap), in place.
void Softcap(float* x, int64_t n, float cap);

// x[i] *= s, in place.
void Scale(float* x, int64_t n, float s);

// y[i] += x[i], in place on y.
void Add(const float* x, float* y, int64_t n);

// ---- Embeddings and Per-Layer Embeddings ------------------------------------------

// out[t, :] = dequant(table.row(ids[t])) * scale. Callers validate ids < rows
// (an id out of range is an invariant violation and aborts).
void EmbeddingGather(const WeightView& table, const int32_t* ids, int64_t T, float scale,
                     float* out, int64_t ldo);

// Per-Layer-Embedding assembly (spec gemma4.md §2.4), per token t and layer l:
//   c   = RMSNorm(ctx[t, l*P:(l+1)*P] * ctx_scale; norm_w)
//   out = (c + tok[t, l*P:(l+1)*P]) * out_scale
// ctx: the projection of the scaled embeddings [T, L*P]; tok: gathered and
// already scaled token-identity rows [T, L*P]. Typical: ctx_scale = H^-1/2,
// out_scale = 2^-1/2.
void PleAssemble(const float* ctx, const float* tok, int64_t T, int64_t L, int64_t P,
                 const float* norm_w, float eps, float ctx_scale, float out_scale, float* out);

// ---- Positional encoding -------------------------------------------------------------

// NeoX ("rotate half") RoPE in place on x[T, n_heads, head_dim] (row stride
// ldx >= n_heads * head_dim). Channel i pairs with i + head_dim/2 and uses
// angle pos[t] * inv_freq[i], i < head_dim/2. A zero inv_freq is the identity
// (proportional RoPE of full-attention layers). cos/sin evaluated in float32.
void RoPE(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
          const int32_t* pos, const float* inv_freq);

// NeoX RoPE of the first n_dims channels of each head as ggml_rope_ext does it
// (angles iterated in float from freq_base / freq_scale, glibc cosf/sinf,
// fused rotation; kernels/cpu/rope_ggml.h).
void RoPEGgml(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim, int64_t n_dims,
              const int32_t* pos, float freq_base, float freq_scale);

// ---- Attention ---------------------------------------------------------------------

struct AttentionParams {
  int64_t T = 0;           // queries in this step
  int64_t pos0 = 0;        // position of query 0; query t is at pos0 + t
  int64_t n_q_heads = 0;
  int64_t n_kv_heads = 0;  // GQA: query head h reads kv head h / (n_q_heads / n_kv_heads)
  int64_t head_dim = 0;
  int64_t window = 0;      // 0: causal over all past keys; W > 0: keys with 0 <= q - k < W
  float scale = 1.0f;      // multiplies q.k (Gemma 4: 1.0)
  // KV cache of the (source) layer: position p lives in row p % cache_rows.
  // Rows hold n_kv_heads * head_dim floats, stride `ld_kv`. The caller
  // guarantees every key a query may see is present (cache_rows >= window - 1 + T
  // for ring buffers, >= pos0 + T otherwise); checked, aborts if violated.
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  // AttentionF16 only: the same caches stored as IEEE fp16 bits.
  const uint16_t* k_cache_f16 = nullptr;
  const uint16_t* v_cache_f16 = nullptr;
  int64_t cache_rows = 0;
  int64_t ld_kv = 0;
};

// out[t, h*head_dim:(h+1)*head_dim] = softmax_k(scale * q_t,h . k_k) v_k over the
// visible keys; q is [T, n_q_heads * head_dim] with stride ldq, out stride ldo.
// Softmax in float32 with max subtraction, computed per key chunk and merged
// in a fixed order (online softmax), so outputs are thread-count independent
// and a decode step equals the matching row of a prefill.
void Attention(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo);

// Writes rows k_new[t], v_new[t] (n_kv_heads * head_dim floats each, strides
// ldk/ldv) into cache rows (pos0 + t) % cache_rows, t < T. When T >
// cache_rows only the last cache_rows tokens are written (the final state is
// the same as writing all of them in order).
void KvAppend(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
              int64_t pos0, float* k_cache, float* v_cache, int64_t cache_rows, int64_t ld_kv,
              int64_t row_width);

// Attention over an fp16 KV cache (p.k_cache_f16 / p.v_cache_f16) with the
// rounding points of llama.cpp's CPU attention without flash attention, so
// GGUF models can reproduce llama.cpp (runtime/numerics.h):
//   q16 = f16(scale * q)               (llama.cpp scales Q in f32, then its
//                                        f16 K.Q product rounds Q to fp16)
//   s_j = sum_i f32(q16_i) f32(k16_j,i) (f32 accumulation)
//   e_j = exp(s_j - max_j s);  S = sum_j e_j (double);  p_j = e_j * f32(1/S)
//   out_i = sum_j f32(f16(p_j)) f32(v16_j,i)  (probabilities rounded to fp16)
// Per (query, head) the key order is fixed and the work split depends only on
// positions, so results are thread-count independent and a decode step equals
// the matching prefill row. Same geometry rules as Attention.
void AttentionF16(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo);

// llama.cpp's non-flash attention over the fp16 caches, bitwise (tinyBLAS /
// vec_dot_f16 orders, ggml_v_expf softmax; kernels/cpu/attention_ggml.h).
// Same geometry rules as AttentionF16; p.scale is applied to q in f32 first.
void AttentionGgml(const AttentionParams& p, const float* q, int64_t ldq, float* out, int64_t ldo);

// KvAppend into an fp16 cache: values rounded to nearest-even fp16.
void KvAppendF16(const float* k_new, int64_t ldk, const float* v_new, int64_t ldv, int64_t T,
                 int64_t pos0, uint16_t* k_cache, uint16_t* v_cache, int64_t cache_rows,
                 int64_t ld_kv, int64_t row_width);

// ---- Mixture of experts ------------------------------------------------------------

// Router tail (spec gemma4.md §2.6): for each token, p = softmax(logits[t, :E]);
// take the top-k (ties: lower expert id first); w = p_sel / sum(p_sel);
// w_j *= per_expert_scale[idx_j] (if not null). Writes idx[t*k + j], w[t*k + j]
// in descending probability order. Experts are ranked by logit (the same
// order as the probabilities, but immune to rounding ties in the softmax).
void MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, const float* per_expert_scale,
              int32_t* idx, float* w);

// Expert FFN bank: gate_up is E matrices [2*I, H] (rows 0..I-1 gate, I..2I-1
// up), down is E matrices [H, I]. Expert e's matrices are gate_up[e], down[e].
// out[t, :] = sum_j w[t,j] * down_e(gelu_tanh(gate_e x_t) * up_e x_t),
// e = idx[t,j]; the sum over j is taken in order j = 0..k-1.
// `scratch` must hold MoeExpertsScratchFloats(bank, T, k) floats
// (T*k*(2H + 3I)). Tokens are grouped by expert so each expert's weights are
// streamed once per call; a token's output does not depend on the others.
struct ExpertBank {
  const WeightView* gate_up = nullptr;  // array of E views
  const WeightView* down = nullptr;     // array of E views
  int64_t n_experts = 0;
  int64_t hidden = 0;        // H
  int64_t intermediate = 0;  // I
  bool gelu_f16_table = false;  // GeluTanhMulF16Table instead of GeluTanhMul
};
int64_t MoeExpertsScratchFloats(const ExpertBank& bank, int64_t T, int64_t k);
void MoeExperts(const ExpertBank& bank, const float* x, int64_t T, int64_t ldx,
                const int32_t* idx, const float* w, int64_t k, float* out, int64_t ldo,
                float* scratch);

// ---- Sampling helpers ----------------------------------------------------------------

// Index of the largest value (first on ties).
int64_t Argmax(const float* x, int64_t n);

}  // namespace sov::kernels

#endif  // SOV_KERNELS_API_H_
