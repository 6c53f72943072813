// The one table of Gemma 4 text-decoder tensors (spec gemma4.md §3.1, §3.2):
// our name, HF safetensors name, GGUF name, shape as a function of the config
// and layer, and which variants/layers carry it. The loader, the GGUF
// converter and the tests read names from here; nobody spells them again.
#ifndef SOV_MODELS_GEMMA4_TENSOR_TABLE_H_
#define SOV_MODELS_GEMMA4_TENSOR_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/gemma4/config.h"

namespace sov::gemma4 {

enum class TensorId : int32_t {
  // Model level.
  kEmbedTokens = 0,
  kFinalNorm,
  kPleEmbed,
  kPleModelProj,
  kPleProjNorm,
  // Per layer: attention.
  kAttnNorm,
  kQProj,
  kKProj,
  kVProj,
  kOProj,
  kQNorm,
  kKNorm,
  kPostAttnNorm,
  // Per layer: dense MLP.
  kPreFfnNorm,
  kGateProj,
  kUpProj,
  kDownProj,
  kPostFfnNorm,
  // Per layer: MoE block.
  kRouterProj,
  kRouterScale,
  kRouterPerExpertScale,
  kExpertsGateUp,
  kExpertsDown,
  kPreFfnNorm2,
  kPostFfnNorm1,
  kPostFfnNorm2,
  // Per layer: PLE injection and layer scalar.
  kPleGate,
  kPleProj,
  kPlePostNorm,
  kLayerScalar,
  // Model level, untied checkpoints only.
  kLmHead,
  kSentinel,
};
inline bool IsValid(TensorId t) { return static_cast<int32_t>(t) >= 0 && t < TensorId::kSentinel; }

enum class Presence : int32_t {
  kRequired = 0,  // must be in the checkpoint with exactly the table's shape
  kOptional,      // used when present (shape checked), a documented default otherwise
  kIgnored,       // not used by the model; tolerated and skipped when present
  kAbsent,        // does not exist for this variant/layer
};

struct TensorInfo {
  TensorId id;
  bool per_layer;
  std::string_view name;  // ours, e.g. "attn_q"; full name "blk.3.attn_q"
  std::string_view hf;    // relative to the `model.` / `model.language_model.` prefix
  std::string_view gguf;  // "{L}" is the layer index
  bool is_matrix;         // a Linear weight (zero-copy view, may be quantized)
  bool hf_top_level = false;  // HF name has no `model.` prefix (lm_head.weight)
};

// All rows, in TensorId order.
const std::vector<TensorInfo>& TensorTable();
const TensorInfo& Info(TensorId id);

// Names with the layer index substituted (layer ignored for model-level tensors).
std::string OurName(TensorId id, int64_t layer);
std::string HfName(TensorId id, int64_t layer);
std::string GgufName(TensorId id, int64_t layer);

// PyTorch-order shape ([out, in] for Linear weights) for a finalized config.
std::vector<int64_t> Shape(const ModelConfig& c, TensorId id, int64_t layer);
// Whether the variant/layer has the tensor and how the loader must treat it.
Presence PresenceOf(const ModelConfig& c, TensorId id, int64_t layer);

// Reverse lookup of an HF name (prefix already stripped): the tensor and layer.
struct NameMatch {
  TensorId id;
  int64_t layer;  // -1 for model-level tensors
};
std::optional<NameMatch> MatchHfName(std::string_view hf_name);

}  // namespace sov::gemma4

#endif  // SOV_MODELS_GEMMA4_TENSOR_TABLE_H_
