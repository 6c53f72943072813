#include "models/gemma3/config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"

namespace sov::gemma3 {
namespace {

absl::Status Positive(int64_t v, const char* key) {
  if (v > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(key, " must be > 0, got ", v));
}

}  // namespace

std::vector<bool> DefaultGlobalLayers(int64_t num_layers) {
  std::vector<bool> g(static_cast<size_t>(num_layers > 0 ? num_layers : 0));
  for (int64_t l = 0; l < num_layers; ++l) g[l] = (l % kSlidingPattern) == kSlidingPattern - 1;
  return g;
}

absl::Status ModelConfig::Validate() const {
  if (auto s = Positive(vocab_size, "tokenizer.ggml.tokens (vocabulary size)"); !s.ok()) return s;
  if (auto s = Positive(hidden_size, "gemma3.embedding_length"); !s.ok()) return s;
  if (auto s = Positive(intermediate_size, "gemma3.feed_forward_length"); !s.ok()) return s;
  if (auto s = Positive(num_layers, "gemma3.block_count"); !s.ok()) return s;
  if (auto s = Positive(num_heads, "gemma3.attention.head_count"); !s.ok()) return s;
  if (auto s = Positive(num_kv_heads, "gemma3.attention.head_count_kv"); !s.ok()) return s;
  if (auto s = Positive(head_dim, "gemma3.attention.key_length"); !s.ok()) return s;
  if (auto s = Positive(sliding_window, "gemma3.attention.sliding_window"); !s.ok()) return s;
  if (auto s = Positive(context_length, "gemma3.context_length"); !s.ok()) return s;
  if (num_heads % num_kv_heads != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("gemma3.attention.head_count (", num_heads,
                     ") is not a multiple of gemma3.attention.head_count_kv (", num_kv_heads, ")"));
  if (head_dim % 2 != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("gemma3.attention.key_length must be even for RoPE, got ", head_dim));
  if (!global_layers.empty() && global_layers.size() != static_cast<size_t>(num_layers))
    return absl::InvalidArgumentError(absl::StrCat("gemma3.attention.sliding_window_pattern has ",
                                                   global_layers.size(), " entries for ",
                                                   num_layers, " layers"));
  if (!(rope_theta_global > 0.0) || !(rope_theta_sliding > 0.0))
    return absl::InvalidArgumentError("gemma3.rope.freq_base must be > 0");
  if (!(rope_scale_global > 0.0) || !std::isfinite(rope_scale_global))
    return absl::InvalidArgumentError(
        absl::StrCat("gemma3.rope.scaling.factor must be > 0, got ", rope_scale_global));
  if (query_pre_attn_scalar < 0.0 || !std::isfinite(query_pre_attn_scalar))
    return absl::InvalidArgumentError("query_pre_attn_scalar must be >= 0 (0 = derived)");
  if (final_logit_softcapping < 0.0 || !std::isfinite(final_logit_softcapping))
    return absl::InvalidArgumentError("gemma3.final_logit_softcapping must be >= 0");
  if (!(rms_norm_eps > 0.0) || !std::isfinite(rms_norm_eps))
    return absl::InvalidArgumentError("gemma3.attention.layer_norm_rms_epsilon must be > 0");
  return absl::OkStatus();
}

absl::Status ModelConfig::Finalize() {
  if (absl::Status s = Validate(); !s.ok()) return s;
  if (global_layers.empty()) global_layers = DefaultGlobalLayers(num_layers);
  if (query_pre_attn_scalar == 0.0) {
    // llama-model.cpp: the 27B model (62 layers) scales by n_embd / n_head.
    query_pre_attn_scalar = num_layers == 62 ? static_cast<double>(hidden_size / num_heads)
                                             : static_cast<double>(head_dim);
  }
  return absl::OkStatus();
}

float ModelConfig::embed_scale() const { return std::sqrt(static_cast<float>(hidden_size)); }

float ModelConfig::query_scale() const {
  return static_cast<float>(1.0 / std::sqrt(query_pre_attn_scalar));
}

std::vector<float> ModelConfig::RopeInvFreq(int64_t layer) const {
  const bool global = is_global(layer);
  const double base = global ? rope_theta_global : rope_theta_sliding;
  const double scale = global ? rope_scale_global : 1.0;
  // ggml rotates pair i by pos * freq_scale * base^(-2i/d); freq_scale = 1/factor.
  std::vector<float> inv(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i)
    inv[i] = static_cast<float>(
        std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim)) / scale);
  return inv;
}

ModelConfig Gemma3_270M() {
  ModelConfig c;
  c.name = "gemma3-270m";
  c.vocab_size = 262144;
  c.hidden_size = 640;
  c.intermediate_size = 2048;
  c.num_layers = 18;
  c.num_heads = 4;
  c.num_kv_heads = 1;
  c.head_dim = 256;
  c.sliding_window = 512;
  c.rope_theta_global = 1000000.0;
  c.context_length = 32768;
  c.rms_norm_eps = 1e-6;
  const absl::Status s = c.Finalize();
  SOV_CHECK(s.ok()) << s.message();
  return c;
}

}  // namespace sov::gemma3
