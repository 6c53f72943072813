// Which arithmetic a run reproduces.
//
//  kReference  float32 everywhere outside the quantized matmuls: f32 KV cache,
//              exact-order softmax attention, tanh GELU. What the parity tests
//              against transformers (fp32) use; the default for HF directories.
//  kGgml       llama.cpp's CPU arithmetic, the default for GGUF files so a GGUF
//              gives the tokens llama.cpp gives: fp16 KV cache (llama.cpp's
//              default cache type, half the memory), Q and the attention
//              probabilities rounded to fp16 as in its non-flash attention
//              (kernels::AttentionF16), GELU through its fp16 table
//              (kernels::GeluTanhMulF16Table).
// The quantized matmuls are the same in both (activations quantized as ggml's
// x86 backend does; kernels/api.h MatMul).
#ifndef SOV_RUNTIME_NUMERICS_H_
#define SOV_RUNTIME_NUMERICS_H_

#include <string_view>

#include "absl/status/statusor.h"

namespace sov {

enum class Numerics { kReference, kGgml };

// "reference" or "llama.cpp" (alias "ggml").
absl::StatusOr<Numerics> ParseNumerics(std::string_view name);
const char* NumericsName(Numerics n);

}  // namespace sov

#endif  // SOV_RUNTIME_NUMERICS_H_
