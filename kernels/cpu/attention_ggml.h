// Attention over an fp16 KV cache in the float order of llama.cpp's CPU
// backend without flash attention (the "ggml" numerics mode,
// runtime/numerics.h): for each (query, head) the output is bitwise what
// llama.cpp's graph kq = mul_mat(k, q) -> soft_max_ext(kq, mask) ->
// kqv = mul_mat(v, kq) gives on x86 with AVX-512 (llama.cpp built with
// -march=native), for the same fp16 cache contents.
//
// What llama.cpp runs (llama-cpp-python 0.3.36's llama.cpp):
//  * n_kv, the number of cache cells the graph sees, is
//    min(size, max(256, PAD(used_max_p1, 256))) (src/llama-kv-cache.cpp
//    get_n_kv). Cache sizes are multiples of 256: the full cache is n_ctx
//    (padded to 256 in llama-context.cpp), the sliding-window cache is n_ctx
//    too under swa_full (llama_context_default_params' default), else
//    PAD(min(n_ctx, n_swa + n_ubatch), 256) (llama-kv-cache-iswa.cpp). Until
//    a cache wraps, position p lives in cell p (find_slot fills cells in
//    order from head), so n_kv is a multiple of 256 covering positions
//    0 .. pos0 + T - 1. Cells past the last position and cells masked by
//    causality or the window (p1 - p0 >= n_swa, is_masked_swa) get mask -inf.
//  * kq: q (scaled in f32 by ggml_scale) is rounded to fp16 (vec_dot_type of
//    F16). T >= 2: llamafile_sgemm -> tinyBLAS<16, __m512, fp16> (needs
//    head_dim % 16 == 0); T == 1: llamafile declines (n < 2) and
//    ggml_vec_dot_f16 runs.
//  * soft_max_f32: s + mask (0 or -inf), max, then per 16-cell chunk
//    e = ggml_v_expf(s - max) (AVX-512 form, exp(-inf) = 0 exactly) and
//    sum += (double) _mm512_reduce_add_ps(e); p = e * (float)(1.0 / sum).
//  * kqv: p is rounded to fp16, then the transposed V view [n_kv rows per
//    channel] times p: T >= 2 and head_dim % 4 == 0: tinyBLAS (k = n_kv);
//    else ggml_vec_dot_f16.
//
// The two dot-product orders, over elements i of (x, y) (fp16 values
// widened exactly to f32), with R16(a) = _mm512_reduce_add_ps's tree as GCC
// expands it: h8[l] = a[l] + a[l+8], h4[l] = h8[l] + h8[l+4],
// R16 = (h4[0] + h4[2]) + (h4[1] + h4[3]):
//  * tinyBLAS: acc[16] = 0; acc[i % 16] = fma(x_i, y_i, acc[i % 16]) in
//    order of i; result R16(acc). Requires n % 16 == 0.
//  * vec_dot_f16: acc[4][16] = 0; for i < n & ~63:
//    acc[(i / 16) % 4][i % 16] = fma(x_i, y_i, ...); then lane-wise
//    (acc0 + acc2) + (acc1 + acc3); sum = (double) R16; leftovers i >=
//    n & ~63 add (double)(x_i * y_i) in order; result (float) sum.
// For kq, i runs over head_dim; for kqv, i is the key's cell index (its
// position), so the lanes follow positions, not the visible range.
//
// Masked keys contribute exactly nothing (p = 0, and an accumulator that
// starts at +0 never becomes -0, so adding 0 * v is the identity for finite
// v), so only visible keys are read and the result does not depend on n_kv
// beyond it being a multiple of 64 (no vec_dot leftovers). Limits:
// llama.cpp's caches must not have wrapped: positions below n_ctx (with
// swa_full = false, sliding layers also below the SWA cache size, e.g. 1024
// for window 512 and n_ubatch 512: past it llama.cpp reuses cells and its
// lanes and summation order follow cell indices, not positions); the cells
// llama.cpp sees past the last position must hold finite values (zero in a
// fresh context); T must be the ubatch llama.cpp evaluates. A decode step
// (T == 1) takes the vec_dot order, so it is NOT bitwise the matching
// prefill row, in llama.cpp as here. The orders are those of llama.cpp built
// for AVX-512 (an AVX2-only llama.cpp build sums in 8-lane orders).
#ifndef SOV_KERNELS_CPU_ATTENTION_GGML_H_
#define SOV_KERNELS_CPU_ATTENTION_GGML_H_

#include <cstdint>

#include "kernels/api.h"

namespace sov::kernels {

// llama.cpp's non-flash CPU attention over the fp16 caches of AttentionParams
// (k_cache_f16/v_cache_f16), bitwise. p.scale is applied to q in f32 first
// (q = f32(p.scale * q)), as llama.cpp's ggml_scale does. Same geometry rules
// as AttentionF16 (kernels/api.h, attention_check.h). (AttentionGgml, declared
// in kernels/api.h.)

namespace internal {

// The AVX-512 kernels run when the CPU has AVX-512F/DQ, head_dim % 64 == 0
// and they are enabled (default); tests switch them off to compare against
// the portable steps (which every other CPU runs, bitwise the same).
bool AttentionGgmlFastAvailable();
void SetAttentionGgmlFastEnabled(bool enabled);

// ggml_v_expf's AVX-512 result for one value (portable definition).
float GgmlExpf(float x);

}  // namespace internal
}  // namespace sov::kernels

#endif  // SOV_KERNELS_CPU_ATTENTION_GGML_H_
