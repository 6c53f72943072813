// Gemma 3 from a llama.cpp GGUF (`general.architecture = "gemma3"`): the
// `gemma3.*` metadata -> gemma3::ModelConfig, and the tensors of the tensor
// table -> a GgufWeights provider (quantized matrices stay zero-copy).
//
// Metadata read: block_count, embedding_length, feed_forward_length,
// attention.{head_count, head_count_kv, key_length, value_length,
// sliding_window, layer_norm_rms_epsilon, sliding_window_pattern (optional)},
// context_length, rope.freq_base, rope.scaling.{type, factor} (optional),
// final_logit_softcapping (optional). The vocabulary size is the row count of
// token_embd. Errors name the file and the key or tensor.
#ifndef SOV_RUNTIME_GEMMA3_GGUF_H_
#define SOV_RUNTIME_GEMMA3_GGUF_H_

#include <memory>

#include "absl/status/statusor.h"
#include "models/gemma3/config.h"
#include "runtime/gguf_reader.h"
#include "runtime/gguf_weights.h"

namespace sov {

absl::StatusOr<gemma3::ModelConfig> Gemma3ConfigFromGguf(const GgufReader& g);

// Registers every tensor the (finalized) config needs; `g` must outlive the result.
absl::StatusOr<std::unique_ptr<GgufWeights>> Gemma3WeightsFromGguf(const GgufReader& g,
                                                                   const gemma3::ModelConfig& c);

}  // namespace sov

#endif  // SOV_RUNTIME_GEMMA3_GGUF_H_
