// NeoX RoPE with the float arithmetic of llama.cpp's CPU backend (the "ggml"
// numerics mode, runtime/numerics.h), so that the result is bitwise what
// libggml-cpu's ggml_rope_ext (mode GGML_ROPE_TYPE_NEOX, f32, ext_factor 0,
// attn_factor 1, no freq_factors: what the Gemma 3 graph passes) gives, for any
// T and thread count, when linked against the same C library (glibc cosf/sinf).
//
// Per token t (ggml-cpu ops.cpp ggml_rope_cache_init / rope_yarn / rotate_pairs
// as built with -march=native, i.e. with GCC's FMA contraction):
//   theta_scale = powf(freq_base, -2.0f / n_dims)        (float pow, once)
//   theta_0     = float(pos[t]);  theta_{i+1} = theta_i * theta_scale
//                 (iterated in float, so theta_i is NOT pos * base^(-2i/n))
//   c_i = cosf(freq_scale * theta_i),  s_i = sinf(freq_scale * theta_i)
// and per head, for pair i < n_dims/2 (channels i and i + n_dims/2):
//   x0' = fma(x0, c_i, -(x1 * s_i))
//   x1' = fma(x0, s_i,   x1 * c_i)
// The product not fused is rounded once; channels n_dims..head_dim-1 are
// left unchanged.
#ifndef SOV_KERNELS_CPU_ROPE_GGML_H_
#define SOV_KERNELS_CPU_ROPE_GGML_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels {

// NeoX RoPE in place with llama.cpp's arithmetic (bitwise): rotates the first
// n_dims of each head. x is [T, n_heads, head_dim] with row stride ldx;
// requires 0 < n_dims <= head_dim, n_dims even, ldx >= n_heads * head_dim.
// (RoPEGgml, declared in kernels/api.h.)

namespace internal {

// The per-token angles' cos/sin above for pairs i < n_dims/2 (c and s hold
// n_dims/2 floats each).
void RoPEGgmlCosSin(int32_t pos, int64_t n_dims, float freq_base, float freq_scale, float* c,
                    float* s);

// The definition: scalar, one std::fma per output. RoPEGgml must equal it
// bitwise on every target.
void RoPEGgmlPortable(float* x, int64_t T, int64_t ldx, int64_t n_heads, int64_t head_dim,
                      int64_t n_dims, const int32_t* pos, float freq_base, float freq_scale);

}  // namespace internal
}  // namespace sov::kernels

#endif  // SOV_KERNELS_CPU_ROPE_GGML_H_
