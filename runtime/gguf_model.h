// Loads a Gemma 4 GGUF file (ours or llama.cpp's, spec gguf.md §10,
// gemma4.md §3.2–§3.3): the `gemma4.*` metadata -> gemma4::ModelConfig, and the
// mapped tensors -> the same Gemma4Weights the HF loader fills.
//
//  * Matrices in any type the kernels read (F32, F16, BF16, Q8_0, Q4_K, Q5_K,
//    Q6_K, Q4_0, Q4_1, Q5_0, Q5_1) are zero-copy views into the mapping.
//  * 1-D tensors are dequantized to f32 copies.
//  * Expert banks `ne = [in, out, E]` become E views; split
//    ffn_gate_exps/ffn_up_exps banks are interleaved into one owned
//    gate_up bank per expert (the graph reads them as one [2I, H] matrix).
//  * `rope_freqs.weight` must agree with the RoPE the config implies (1.0 for
//    rotated pairs, a huge divisor for the rest); a missing
//    `layer_output_scale` is 1.0.
//
// Errors name the file and the key or tensor: missing key, wrong value type,
// wrong shape, unsupported tensor type, unknown architecture.
#ifndef SOV_RUNTIME_GGUF_MODEL_H_
#define SOV_RUNTIME_GGUF_MODEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/gemma4/config.h"
#include "runtime/gguf_reader.h"
#include "runtime/loader.h"

namespace sov {

// True when `path` is a regular file whose name ends in ".gguf" or whose first
// four bytes are the GGUF magic.
bool IsGgufFile(const std::string& path);

// The model config from a Gemma 4 GGUF's metadata and tensor shapes.
absl::StatusOr<gemma4::ModelConfig> Gemma4ConfigFromGguf(const GgufReader& g);

// Opens, validates and maps a Gemma 4 GGUF. Gemma4Model::dir holds `path`.
absl::StatusOr<std::unique_ptr<Gemma4Model>> LoadGemma4Gguf(const std::string& path,
                                                            const LoadOptions& opt = {});

// `rope_freqs.weight` values for a full-attention layer: 1.0 for the pairs the
// config rotates, kRopeFreqOff for the pairs it leaves alone (llama.cpp
// divides the frequency by the value, so the angle becomes ~0).
inline constexpr float kRopeFreqOff = 1e30f;
std::vector<float> RopeFreqFactors(const gemma4::ModelConfig& c);

}  // namespace sov

#endif  // SOV_RUNTIME_GGUF_MODEL_H_
