// Gemma 4 text-decoder configuration as data (spec gemma4.md §1.1).
//
// `ModelConfig` holds the published hyper-parameters; `Finalize()` validates
// them and derives the per-layer geometry (`layers`), which is what the tensor
// table, the graph builder and the loader read. Nothing here touches files:
// the mapping from an HF config.json lives in runtime/loader.
#ifndef SOV_MODELS_GEMMA4_CONFIG_H_
#define SOV_MODELS_GEMMA4_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sov::gemma4 {

enum class LayerType : int32_t {
  kSliding = 0,  // "sliding_attention"
  kFull = 1,     // "full_attention"
  kSentinel,     // number of valid values; never stored in a config
};
inline bool IsValid(LayerType t) {
  return static_cast<int32_t>(t) >= 0 && t < LayerType::kSentinel;
}
std::string_view LayerTypeName(LayerType t);  // the HF spelling

enum class RopeType : int32_t {
  kDefault = 0,       // f_i = theta^(-2i/d), i < d/2
  kProportional = 1,  // f_i = theta^(-2i/d) for i < floor(partial*d/2), else 0
  kSentinel,
};
inline bool IsValid(RopeType t) { return static_cast<int32_t>(t) >= 0 && t < RopeType::kSentinel; }

struct RopeConfig {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;
  double factor = 1.0;  // HF divides every inverse frequency by it
};

// Geometry of one decoder layer, derived by Finalize().
struct LayerConfig {
  LayerType type = LayerType::kSliding;
  int64_t head_dim = 0;    // q, k and v head size
  int64_t n_kv_heads = 0;  // KV heads of the cache this layer reads
  bool owns_kv = true;     // computes K/V (false: KV-shared layer)
  int64_t kv_source = 0;   // layer whose cache it reads (itself when owns_kv)
  bool k_eq_v = false;     // owns KV and has no v_proj: V = raw K projection
  int64_t ffn_dim = 0;     // dense MLP width (double-wide on shared layers when configured)
  bool moe = false;        // router + experts next to the dense MLP
};

struct ModelConfig {
  std::string name;  // informational ("gemma4-e2b", "hf", ...)

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // H
  int64_t intermediate_size = 0;  // dense MLP width (MoE: the always-on MLP)
  bool use_double_wide_mlp = false;
  int64_t num_layers = 0;
  std::vector<LayerType> layer_types;  // size num_layers
  int64_t sliding_window = 0;          // W keys incl. the query itself
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t num_global_kv_heads = 0;  // 0 = not set; used only with attention_k_eq_v
  int64_t head_dim = 0;             // sliding layers
  int64_t global_head_dim = 0;      // full layers
  bool attention_k_eq_v = false;
  RopeConfig rope_sliding;
  RopeConfig rope_full;
  int64_t ple_dim = 0;  // hidden_size_per_layer_input (P); 0 = no PLE
  int64_t ple_vocab = 0;
  int64_t num_kv_shared_layers = 0;
  bool enable_moe = false;
  int64_t num_experts = 0;
  int64_t top_k_experts = 0;
  int64_t moe_intermediate_size = 0;
  double final_logit_softcapping = 0.0;  // 0 = none
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = true;  // false: a separate lm_head.weight
  int32_t pad_token_id = 0;
  int32_t bos_token_id = 2;
  int32_t eos_token_id = 1;

  // Per-layer geometry overrides (HF `per_layer_config`, newer transformers):
  // when `has_layer_overrides`, layer l uses layer_head_dim[l] / layer_kv_heads[l]
  // where non-zero and head_dim / num_key_value_heads otherwise, and the
  // global_head_dim / num_global_key_value_heads fields are not consulted.
  bool has_layer_overrides = false;
  std::vector<int64_t> layer_head_dim;  // size num_layers when has_layer_overrides
  std::vector<int64_t> layer_kv_heads;  // size num_layers when has_layer_overrides

  // Derived by Finalize().
  std::vector<LayerConfig> layers;

  // Checks every field (errors name the HF key) and fills `layers`.
  absl::Status Finalize();
  // Field checks only (no derivation).
  absl::Status Validate() const;

  bool has_ple() const { return ple_dim > 0; }
  int64_t first_shared_layer() const { return num_layers - num_kv_shared_layers; }
  // sqrt(H) in fp32, the HF fp32 embed_scale (bf16 checkpoints round it, §2.3).
  float embed_scale() const;
  // Largest q/o width over the layers (num_heads * head size).
  int64_t max_q_width() const;
  const RopeConfig& rope(LayerType t) const {
    return t == LayerType::kFull ? rope_full : rope_sliding;
  }
};

// Inverse RoPE frequencies of a layer of type `t` (head_dim/2 values), as HF
// computes them in float32 (`_compute_default_rope_parameters`,
// `_compute_proportional_rope_parameters`).
std::vector<float> RopeInvFreq(const RopeConfig& rope, int64_t head_dim);

// Default HF layer_types when absent: every 6th layer full, the last forced full.
std::vector<LayerType> DefaultLayerTypes(int64_t num_layers);

// The published configurations (spec §1.1), already finalized.
ModelConfig Gemma4E2B();
ModelConfig Gemma4E4B();
ModelConfig Gemma4_26B_A4B();
ModelConfig Gemma4_31B();

}  // namespace sov::gemma4

#endif  // SOV_MODELS_GEMMA4_CONFIG_H_
