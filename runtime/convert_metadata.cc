// gemma4.* GGUF metadata from a model config (spec gemma4.md §3.3, gguf.md
// §10.1), with the exact value types llama.cpp's loader demands.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/convert.h"

namespace sov {

using gemma4::LayerType;
using gemma4::ModelConfig;
using gemma4::RopeType;

namespace {

std::string Key(std::string_view suffix) {
  return absl::StrCat("gemma4.", absl::string_view(suffix.data(), suffix.size()));
}

absl::Status Unrepresentable(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("this config cannot be written as gemma4 GGUF metadata: ",
                   absl::string_view(what.data(), what.size())));
}

// A scalar when every layer agrees (what llama.cpp's converter writes), else
// a per-layer UINT32 array.
void SetU32OrArray(GgufWriter& w, const std::string& key, const std::vector<uint32_t>& v) {
  const bool uniform = std::all_of(v.begin(), v.end(), [&](uint32_t x) { return x == v[0]; });
  if (uniform) {
    w.SetU32(key, v[0]);
  } else {
    w.SetU32Array(key, v);
  }
}

}  // namespace

absl::Status SetGemma4Metadata(const ModelConfig& c, GgufWriter& w) {
  const int64_t L = c.num_layers;
  if (static_cast<int64_t>(c.layers.size()) != L) return Unrepresentable("config is not finalized");
  // One head size per layer type: GGUF has key_length and key_length_swa only.
  int64_t hd_full = c.global_head_dim, hd_swa = c.head_dim;
  bool seen_full = false, seen_swa = false;
  for (int64_t l = 0; l < L; ++l) {
    const bool full = c.layers[l].type == LayerType::kFull;
    int64_t& hd = full ? hd_full : hd_swa;
    bool& seen = full ? seen_full : seen_swa;
    if (seen && hd != c.layers[l].head_dim)
      return Unrepresentable(absl::StrCat("layers of one attention type have different head sizes (",
                                          hd, " and ", c.layers[l].head_dim, " at layer ", l, ")"));
    hd = c.layers[l].head_dim;
    seen = true;
  }
  if (c.rope_sliding.type != RopeType::kDefault)
    return Unrepresentable("sliding layers use a non-default RoPE");
  if (c.rope_sliding.factor != 1.0 || c.rope_full.factor != 1.0)
    return Unrepresentable("RoPE factor other than 1");

  w.SetU32(Key("context_length"), static_cast<uint32_t>(c.max_position_embeddings));
  w.SetU32(Key("embedding_length"), static_cast<uint32_t>(c.hidden_size));
  w.SetU32(Key("block_count"), static_cast<uint32_t>(L));
  std::vector<uint32_t> ffn, kv;
  std::vector<bool> swa;
  for (const gemma4::LayerConfig& lc : c.layers) {
    ffn.push_back(static_cast<uint32_t>(lc.ffn_dim));
    kv.push_back(static_cast<uint32_t>(lc.n_kv_heads));
    swa.push_back(lc.type == LayerType::kSliding);
  }
  SetU32OrArray(w, Key("feed_forward_length"), ffn);
  w.SetU32(Key("attention.head_count"), static_cast<uint32_t>(c.num_heads));
  SetU32OrArray(w, Key("attention.head_count_kv"), kv);
  w.SetU32(Key("attention.key_length"), static_cast<uint32_t>(hd_full));
  w.SetU32(Key("attention.value_length"), static_cast<uint32_t>(hd_full));
  w.SetU32(Key("attention.key_length_swa"), static_cast<uint32_t>(hd_swa));
  w.SetU32(Key("attention.value_length_swa"), static_cast<uint32_t>(hd_swa));
  w.SetF32(Key("attention.layer_norm_rms_epsilon"), static_cast<float>(c.rms_norm_eps));
  w.SetU32(Key("attention.sliding_window"), static_cast<uint32_t>(c.sliding_window));
  w.SetBoolArray(Key("attention.sliding_window_pattern"), swa);
  w.SetU32(Key("attention.shared_kv_layers"), static_cast<uint32_t>(c.num_kv_shared_layers));
  w.SetU32(Key("embedding_length_per_layer_input"), static_cast<uint32_t>(c.ple_dim));
  w.SetF32(Key("rope.freq_base"), static_cast<float>(c.rope_full.theta));
  w.SetF32(Key("rope.freq_base_swa"), static_cast<float>(c.rope_sliding.theta));
  // The rotation spans the whole head; rope_freqs.weight switches pairs off.
  w.SetU32(Key("rope.dimension_count"), static_cast<uint32_t>(hd_full));
  w.SetU32(Key("rope.dimension_count_swa"), static_cast<uint32_t>(hd_swa));
  if (c.final_logit_softcapping > 0.0)
    w.SetF32(Key("final_logit_softcapping"), static_cast<float>(c.final_logit_softcapping));
  if (c.enable_moe) {
    w.SetU32(Key("expert_count"), static_cast<uint32_t>(c.num_experts));
    w.SetU32(Key("expert_used_count"), static_cast<uint32_t>(c.top_k_experts));
    w.SetU32(Key("expert_feed_forward_length"), static_cast<uint32_t>(c.moe_intermediate_size));
  }
  return absl::OkStatus();
}

}  // namespace sov
