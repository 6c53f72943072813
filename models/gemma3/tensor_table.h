// The one table of Gemma 3 text-decoder tensors, named as llama.cpp's GGUF
// converter writes them (`gemma3` architecture). The GGUF weight provider, the
// graph builder and the tests read names and shapes from here.
//
// Norm weights: Hugging Face stores w and computes x * (1 + w); llama.cpp's
// converter adds the 1 when writing the GGUF, so every `*norm.weight` here is
// used as a plain multiplier (checked on the pinned 270M file: every stored
// value minus 1 is exactly a bf16 number, i.e. the file holds 1 + w_bf16).
#ifndef SOV_MODELS_GEMMA3_TENSOR_TABLE_H_
#define SOV_MODELS_GEMMA3_TENSOR_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "models/gemma3/config.h"

namespace sov::gemma3 {

enum class TensorId : int32_t {
  kEmbedTokens = 0,
  kFinalNorm,
  kOutput,  // untied LM head; absent in the published checkpoints
  kAttnNorm,
  kQProj,
  kKProj,
  kVProj,
  kOProj,
  kQNorm,
  kKNorm,
  kPostAttnNorm,
  kPreFfnNorm,
  kGateProj,
  kUpProj,
  kDownProj,
  kPostFfnNorm,
  kSentinel,
};
inline bool IsValid(TensorId t) { return static_cast<int32_t>(t) >= 0 && t < TensorId::kSentinel; }

struct TensorInfo {
  TensorId id;
  bool per_layer;
  std::string_view gguf;  // "{L}" is the layer index
  bool is_matrix;         // a Linear weight (zero-copy view, may be quantized)
  bool optional;          // may be absent (kOutput: tied to token_embd)
};

// All rows, in TensorId order.
const std::vector<TensorInfo>& TensorTable();
const TensorInfo& Info(TensorId id);

// The GGUF name with the layer substituted (ignored for model-level tensors).
std::string GgufName(TensorId id, int64_t layer = -1);

// PyTorch-order shape ([out, in] for Linear weights; GGUF ne reversed).
std::vector<int64_t> Shape(const ModelConfig& c, TensorId id);

}  // namespace sov::gemma3

#endif  // SOV_MODELS_GEMMA3_TENSOR_TABLE_H_
