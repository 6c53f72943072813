// Gemma 3 text-decoder configuration as data, as llama.cpp's `gemma3`
// architecture runs it (src/models/gemma3.cpp, llama-model.cpp).
//
// Differences from Gemma 4 that matter to the graph: every layer has the same
// head size and KV heads, queries are scaled by 1/sqrt(query_pre_attn_scalar)
// before attention (no unit-scale q/k-norm trick), there is no PLE, no MoE,
// no KV sharing, no layer scalar, and sliding layers use their own RoPE base
// (10000) while global layers use `rope.freq_base` with optional linear
// scaling. Every 6th layer is global (llama.cpp's `set_swa_pattern(6)`).
//
// `Finalize()` validates the fields and derives the per-layer vectors. The
// mapping from GGUF metadata lives in runtime/gemma3_gguf.
#ifndef SOV_MODELS_GEMMA3_CONFIG_H_
#define SOV_MODELS_GEMMA3_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sov::gemma3 {

// Layer l is global (full attention) when l % kSlidingPattern == kSlidingPattern - 1.
inline constexpr int64_t kSlidingPattern = 6;
// RoPE base of sliding layers; not stored in Gemma 3 GGUFs (llama.cpp hard-codes it).
inline constexpr double kSlidingRopeTheta = 10000.0;

struct ModelConfig {
  std::string name;  // informational (general.name)

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // H, gemma3.embedding_length
  int64_t intermediate_size = 0;  // gemma3.feed_forward_length
  int64_t num_layers = 0;         // gemma3.block_count
  int64_t num_heads = 0;          // gemma3.attention.head_count
  int64_t num_kv_heads = 0;       // gemma3.attention.head_count_kv
  int64_t head_dim = 0;           // gemma3.attention.key_length (= value_length)
  int64_t sliding_window = 0;     // gemma3.attention.sliding_window (keys incl. the query)
  // true = global layer. Empty before Finalize() means "the 5:1 pattern".
  std::vector<bool> global_layers;
  double rope_theta_global = 1000000.0;  // gemma3.rope.freq_base
  double rope_theta_sliding = kSlidingRopeTheta;
  double rope_scale_global = 1.0;  // linear scaling factor (positions / factor)
  // Queries are multiplied by query_pre_attn_scalar^-1/2. llama.cpp uses
  // head_dim, except for the 27B model (62 layers) where it is H / num_heads.
  double query_pre_attn_scalar = 0.0;
  double final_logit_softcapping = 0.0;  // 0 = none (the case for every Gemma 3 GGUF seen)
  double rms_norm_eps = 1e-6;            // gemma3.attention.layer_norm_rms_epsilon
  int64_t context_length = 0;            // gemma3.context_length
  bool tied_output = true;               // no separate output.weight

  // Checks every field (errors name the GGUF key) and fills the defaults
  // that depend on other fields (global_layers, query_pre_attn_scalar).
  absl::Status Finalize();
  absl::Status Validate() const;

  bool is_global(int64_t layer) const { return global_layers[layer]; }
  float embed_scale() const;  // sqrt(H) in fp32, as llama.cpp's sqrtf(n_embd)
  float query_scale() const;  // 1 / sqrt(query_pre_attn_scalar)
  // head_dim / 2 inverse frequencies of the layer's RoPE (linear scaling folded in).
  std::vector<float> RopeInvFreq(int64_t layer) const;
};

// llama.cpp's 5:1 pattern over `num_layers` layers.
std::vector<bool> DefaultGlobalLayers(int64_t num_layers);

// The published Gemma 3 270M text config (matches the pinned GGUF), finalized.
ModelConfig Gemma3_270M();

}  // namespace sov::gemma3

#endif  // SOV_MODELS_GEMMA3_CONFIG_H_
