// gemma4.* GGUF metadata from a model config (spec gemma4.md §3.3, gguf.md
// §10.1), with the exact value types llama.cpp's loader demands.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/convert.h"
#include "runtime/tokenizer_hf.h"

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

absl::StatusOr<bool> SetTokenizerFromHf(const std::string& dir, const ModelConfig& c, GgufWriter& w) {
  const std::string path = dir + "/tokenizer.json";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  std::ifstream f(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  SOV_ASSIGN_OR_RETURN(Vocab v, VocabFromHfTokenizerJson(text, path));
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  if (n > c.vocab_size)
    return absl::InvalidArgumentError(absl::StrCat(path, " has ", n, " tokens but the embedding has only ",
                                                   c.vocab_size, " rows"));
  // llama.cpp needs one token per embedding row; the converter pads the
  // vocabulary with unused "[PADi]" pieces, as done here.
  std::vector<int32_t> types;
  for (int64_t i = 0; i < c.vocab_size; ++i) {
    TokenType t = TokenType::kUnused;
    if (i < n) t = v.types.empty() ? TokenType::kNormal : v.types[i];
    types.push_back(static_cast<int32_t>(t));
  }
  for (int64_t i = n; i < c.vocab_size; ++i) v.tokens.push_back(absl::StrCat("[PAD", i, "]"));
  w.SetString("tokenizer.ggml.model", "gemma4");
  w.SetString("tokenizer.ggml.pre", "gemma4");
  w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) {
    v.scores.resize(static_cast<size_t>(c.vocab_size), 0.0f);
    w.SetF32Array("tokenizer.ggml.scores", v.scores);
  }
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", v.merges);
  if (v.bos_id >= 0) w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.unk_id >= 0) w.SetU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  if (v.pad_id >= 0) w.SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
  w.SetBool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.SetBool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  return true;
}

}  // namespace sov
