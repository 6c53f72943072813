#include "models/gemma4/tensor_table.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "models/tensor_table_util.h"
#include "runtime/check.h"

namespace sov::gemma4 {
namespace {

using T = TensorId;

// clang-format off
const std::vector<TensorInfo>& Table() {
  static const auto* t = new std::vector<TensorInfo>{
    // id                    layer  ours               HF                                          GGUF                              matrix
    {T::kEmbedTokens,         false, "token_embd",      "embed_tokens.weight",                      "token_embd.weight",              true},
    {T::kFinalNorm,           false, "output_norm",     "norm.weight",                              "output_norm.weight",             false},
    {T::kPleEmbed,            false, "ple_token_embd",  "embed_tokens_per_layer.weight",            "per_layer_token_embd.weight",    true},
    {T::kPleModelProj,        false, "ple_model_proj",  "per_layer_model_projection.weight",        "per_layer_model_proj.weight",    true},
    {T::kPleProjNorm,         false, "ple_proj_norm",   "per_layer_projection_norm.weight",         "per_layer_proj_norm.weight",     false},
    {T::kAttnNorm,            true,  "attn_norm",       "layers.{L}.input_layernorm.weight",        "blk.{L}.attn_norm.weight",       false},
    {T::kQProj,               true,  "attn_q",          "layers.{L}.self_attn.q_proj.weight",       "blk.{L}.attn_q.weight",          true},
    {T::kKProj,               true,  "attn_k",          "layers.{L}.self_attn.k_proj.weight",       "blk.{L}.attn_k.weight",          true},
    {T::kVProj,               true,  "attn_v",          "layers.{L}.self_attn.v_proj.weight",       "blk.{L}.attn_v.weight",          true},
    {T::kOProj,               true,  "attn_output",     "layers.{L}.self_attn.o_proj.weight",       "blk.{L}.attn_output.weight",     true},
    {T::kQNorm,               true,  "attn_q_norm",     "layers.{L}.self_attn.q_norm.weight",       "blk.{L}.attn_q_norm.weight",     false},
    {T::kKNorm,               true,  "attn_k_norm",     "layers.{L}.self_attn.k_norm.weight",       "blk.{L}.attn_k_norm.weight",     false},
    {T::kPostAttnNorm,        true,  "post_attn_norm",  "layers.{L}.post_attention_layernorm.weight", "blk.{L}.post_attention_norm.weight", false},
    {T::kPreFfnNorm,          true,  "ffn_norm",        "layers.{L}.pre_feedforward_layernorm.weight", "blk.{L}.ffn_norm.weight",     false},
    {T::kGateProj,            true,  "ffn_gate",        "layers.{L}.mlp.gate_proj.weight",          "blk.{L}.ffn_gate.weight",        true},
    {T::kUpProj,              true,  "ffn_up",          "layers.{L}.mlp.up_proj.weight",            "blk.{L}.ffn_up.weight",          true},
    {T::kDownProj,            true,  "ffn_down",        "layers.{L}.mlp.down_proj.weight",          "blk.{L}.ffn_down.weight",        true},
    {T::kPostFfnNorm,         true,  "post_ffn_norm",   "layers.{L}.post_feedforward_layernorm.weight", "blk.{L}.post_ffw_norm.weight", false},
    {T::kRouterProj,          true,  "router",          "layers.{L}.router.proj.weight",            "blk.{L}.ffn_gate_inp.weight",    true},
    {T::kRouterScale,         true,  "router_scale",    "layers.{L}.router.scale",                  "blk.{L}.ffn_gate_inp.scale",     false},
    {T::kRouterPerExpertScale,true,  "expert_scale",    "layers.{L}.router.per_expert_scale",       "blk.{L}.ffn_down_exps.scale",    false},
    {T::kExpertsGateUp,       true,  "ffn_gate_up_exps","layers.{L}.experts.gate_up_proj",          "blk.{L}.ffn_gate_up_exps.weight", true},
    {T::kExpertsDown,         true,  "ffn_down_exps",   "layers.{L}.experts.down_proj",             "blk.{L}.ffn_down_exps.weight",   true},
    {T::kPreFfnNorm2,         true,  "pre_ffn_norm_2",  "layers.{L}.pre_feedforward_layernorm_2.weight", "blk.{L}.pre_ffw_norm_2.weight", false},
    {T::kPostFfnNorm1,        true,  "post_ffn_norm_1", "layers.{L}.post_feedforward_layernorm_1.weight", "blk.{L}.post_ffw_norm_1.weight", false},
    {T::kPostFfnNorm2,        true,  "post_ffn_norm_2", "layers.{L}.post_feedforward_layernorm_2.weight", "blk.{L}.post_ffw_norm_2.weight", false},
    {T::kPleGate,             true,  "ple_gate",        "layers.{L}.per_layer_input_gate.weight",   "blk.{L}.inp_gate.weight",        true},
    {T::kPleProj,             true,  "ple_proj",        "layers.{L}.per_layer_projection.weight",   "blk.{L}.proj.weight",            true},
    {T::kPlePostNorm,         true,  "ple_post_norm",   "layers.{L}.post_per_layer_input_norm.weight", "blk.{L}.post_norm.weight",    false},
    {T::kLayerScalar,         true,  "layer_scalar",    "layers.{L}.layer_scalar",                  "blk.{L}.layer_output_scale.weight", false},
    {T::kLmHead,              false, "output",          "lm_head.weight",                           "output.weight",                  true, true},
  };
  return *t;
}
// clang-format on

}  // namespace

const std::vector<TensorInfo>& TensorTable() {
  static const std::vector<TensorInfo>& t =
      models::CheckDenseTable(Table(), static_cast<size_t>(TensorId::kSentinel));
  return t;
}

const TensorInfo& Info(TensorId id) {
  SOV_CHECK(IsValid(id));
  return TensorTable()[static_cast<size_t>(id)];
}

std::string OurName(TensorId id, int64_t layer) {
  const TensorInfo& i = Info(id);
  if (!i.per_layer) return std::string(i.name);
  return absl::StrCat("blk.", layer, ".", std::string(i.name));
}
std::string HfName(TensorId id, int64_t layer) { return models::SubstituteLayer(Info(id).hf, layer); }
std::string GgufName(TensorId id, int64_t layer) { return models::SubstituteLayer(Info(id).gguf, layer); }

std::vector<int64_t> Shape(const ModelConfig& c, TensorId id, int64_t layer) {
  const int64_t H = c.hidden_size;
  const int64_t L = c.num_layers;
  const int64_t P = c.ple_dim;
  SOV_CHECK(!Info(id).per_layer || (layer >= 0 && layer < L)) << "layer " << layer;
  SOV_CHECK(!Info(id).per_layer || c.layers.size() == static_cast<size_t>(L)) << "config not finalized";
  const LayerConfig* lc = Info(id).per_layer ? &c.layers[layer] : nullptr;
  switch (id) {
    case T::kEmbedTokens: return {c.vocab_size, H};
    case T::kFinalNorm: return {H};
    case T::kPleEmbed: return {c.ple_vocab, L * P};
    case T::kPleModelProj: return {L * P, H};
    case T::kPleProjNorm: return {P};
    case T::kAttnNorm:
    case T::kPostAttnNorm:
    case T::kPreFfnNorm:
    case T::kPostFfnNorm:
    case T::kPreFfnNorm2:
    case T::kPostFfnNorm1:
    case T::kPostFfnNorm2:
    case T::kPlePostNorm:
    case T::kRouterScale: return {H};
    case T::kQProj: return {c.num_heads * lc->head_dim, H};
    case T::kKProj:
    case T::kVProj: return {lc->n_kv_heads * lc->head_dim, H};
    case T::kOProj: return {H, c.num_heads * lc->head_dim};
    case T::kQNorm:
    case T::kKNorm: return {lc->head_dim};
    case T::kGateProj:
    case T::kUpProj: return {lc->ffn_dim, H};
    case T::kDownProj: return {H, lc->ffn_dim};
    case T::kRouterProj: return {c.num_experts, H};
    case T::kRouterPerExpertScale: return {c.num_experts};
    case T::kExpertsGateUp: return {c.num_experts, 2 * c.moe_intermediate_size, H};
    case T::kExpertsDown: return {c.num_experts, H, c.moe_intermediate_size};
    case T::kPleGate: return {P, H};
    case T::kPleProj: return {H, P};
    case T::kLayerScalar: return {1};
    case T::kLmHead: return {c.vocab_size, H};
    case T::kSentinel: break;
  }
  SOV_CHECK(false) << "bad tensor id";
  return {};
}

Presence PresenceOf(const ModelConfig& c, TensorId id, int64_t layer) {
  const LayerConfig* lc = Info(id).per_layer ? &c.layers.at(layer) : nullptr;
  const Presence ple = c.has_ple() ? Presence::kRequired : Presence::kAbsent;
  const Presence moe = (lc && lc->moe) ? Presence::kRequired : Presence::kAbsent;
  switch (id) {
    case T::kPleEmbed:
    case T::kPleModelProj:
    case T::kPleProjNorm:
    case T::kPleGate:
    case T::kPleProj:
    case T::kPlePostNorm: return ple;
    // Released checkpoints still carry K/V weights on KV-shared layers (§2.5.6).
    case T::kKProj:
    case T::kKNorm: return lc->owns_kv ? Presence::kRequired : Presence::kIgnored;
    case T::kVProj:
      if (!lc->owns_kv) return Presence::kIgnored;
      return lc->k_eq_v ? Presence::kAbsent : Presence::kRequired;
    case T::kRouterProj:
    case T::kRouterScale:
    case T::kRouterPerExpertScale:
    case T::kExpertsGateUp:
    case T::kExpertsDown:
    case T::kPreFfnNorm2:
    case T::kPostFfnNorm1:
    case T::kPostFfnNorm2: return moe;
    // Tied checkpoints may still carry a copy of the embedding; it is not read.
    case T::kLmHead: return c.tie_word_embeddings ? Presence::kIgnored : Presence::kRequired;
    // A persistent HF buffer; llama.cpp treats it as optional (default 1).
    case T::kLayerScalar: return Presence::kOptional;
    default: return Presence::kRequired;
  }
}

std::optional<NameMatch> MatchHfName(std::string_view name) {
  int64_t layer = -1;
  std::string_view rest = name;
  constexpr std::string_view kLayers = "layers.";
  if (name.substr(0, kLayers.size()) == kLayers) {
    std::string_view num = name.substr(kLayers.size());
    size_t dot = num.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    int64_t v = 0;
    auto r = std::from_chars(num.data(), num.data() + dot, v);
    if (r.ec != std::errc() || r.ptr != num.data() + dot) return std::nullopt;
    layer = v;
    rest = num.substr(dot + 1);
  }
  for (const TensorInfo& i : TensorTable()) {
    if (i.per_layer != (layer >= 0)) continue;
    std::string_view pat = i.hf;
    if (i.per_layer) pat = pat.substr(pat.find("{L}.") + 4);
    if (pat == rest) return NameMatch{i.id, layer};
  }
  return std::nullopt;
}

}  // namespace sov::gemma4
