#include "models/gemma4/config.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"

namespace sov::gemma4 {
namespace {

absl::Status Bad(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", key, " ", why));
}

absl::Status Positive(absl::string_view key, int64_t v) {
  if (v <= 0) return Bad(key, absl::StrCat("must be > 0, got ", v));
  return absl::OkStatus();
}

absl::Status CheckRope(absl::string_view key, const RopeConfig& r) {
  if (!IsValid(r.type)) return Bad(key, "has an unknown rope_type");
  if (!(r.theta > 0.0) || !std::isfinite(r.theta))
    return Bad(absl::StrCat(key, ".rope_theta"), absl::StrCat("must be > 0, got ", r.theta));
  if (!(r.partial_rotary_factor > 0.0) || r.partial_rotary_factor > 1.0)
    return Bad(absl::StrCat(key, ".partial_rotary_factor"),
               absl::StrCat("must be in (0, 1], got ", r.partial_rotary_factor));
  if (r.type == RopeType::kDefault && r.partial_rotary_factor != 1.0)
    return Bad(absl::StrCat(key, ".partial_rotary_factor"),
               "is only supported with rope_type \"proportional\"");
  if (!(r.factor > 0.0))
    return Bad(absl::StrCat(key, ".factor"), absl::StrCat("must be > 0, got ", r.factor));
  return absl::OkStatus();
}

}  // namespace

std::string_view LayerTypeName(LayerType t) {
  switch (t) {
    case LayerType::kSliding:
      return "sliding_attention";
    case LayerType::kFull:
      return "full_attention";
    default:
      return "invalid";
  }
}

std::vector<LayerType> DefaultLayerTypes(int64_t num_layers) {
  std::vector<LayerType> t;
  for (int64_t i = 0; i < num_layers; ++i)
    t.push_back((i + 1) % 6 == 0 ? LayerType::kFull : LayerType::kSliding);
  if (!t.empty()) t.back() = LayerType::kFull;
  return t;
}

std::vector<float> RopeInvFreq(const RopeConfig& rope, int64_t head_dim) {
  // HF builds the exponent as float32(2i) / head_dim and the power in float32.
  const int64_t half = head_dim / 2;
  int64_t n_rot = half;
  if (rope.type == RopeType::kProportional) {
    // int(partial * head_dim // 2): Python floors the float quotient.
    n_rot = static_cast<int64_t>(std::floor(rope.partial_rotary_factor * head_dim / 2.0));
    if (n_rot > half) n_rot = half;
  }
  std::vector<float> inv(half, 0.0f);
  const float base = static_cast<float>(rope.theta);
  const float factor = static_cast<float>(rope.factor);
  for (int64_t i = 0; i < n_rot; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = (1.0f / std::pow(base, e)) / factor;
  }
  return inv;
}

float ModelConfig::embed_scale() const {
  return static_cast<float>(std::sqrt(static_cast<double>(hidden_size)));
}

int64_t ModelConfig::max_q_width() const {
  int64_t m = 0;
  for (const LayerConfig& l : layers) m = std::max(m, num_heads * l.head_dim);
  return m;
}

absl::Status ModelConfig::Validate() const {
  SOV_RETURN_IF_ERROR(Positive("vocab_size", vocab_size));
  SOV_RETURN_IF_ERROR(Positive("hidden_size", hidden_size));
  SOV_RETURN_IF_ERROR(Positive("intermediate_size", intermediate_size));
  SOV_RETURN_IF_ERROR(Positive("num_hidden_layers", num_layers));
  SOV_RETURN_IF_ERROR(Positive("num_attention_heads", num_heads));
  SOV_RETURN_IF_ERROR(Positive("num_key_value_heads", num_kv_heads));
  SOV_RETURN_IF_ERROR(Positive("head_dim", head_dim));
  SOV_RETURN_IF_ERROR(Positive("global_head_dim", global_head_dim));
  SOV_RETURN_IF_ERROR(Positive("max_position_embeddings", max_position_embeddings));
  if (head_dim % 2 != 0) return Bad("head_dim", absl::StrCat("must be even, got ", head_dim));
  if (global_head_dim % 2 != 0)
    return Bad("global_head_dim", absl::StrCat("must be even, got ", global_head_dim));
  if (static_cast<int64_t>(layer_types.size()) != num_layers)
    return Bad("layer_types", absl::StrCat("has ", layer_types.size(),
                                           " entries but num_hidden_layers is ", num_layers));
  for (size_t i = 0; i < layer_types.size(); ++i)
    if (!IsValid(layer_types[i])) return Bad(absl::StrCat("layer_types[", i, "]"), "is invalid");
  bool any_sliding = false;
  for (LayerType t : layer_types) any_sliding |= (t == LayerType::kSliding);
  if (has_layer_overrides) {
    if (static_cast<int64_t>(layer_head_dim.size()) != num_layers ||
        static_cast<int64_t>(layer_kv_heads.size()) != num_layers)
      return Bad("per_layer_config", "override vectors do not match num_hidden_layers");
    for (int64_t l = 0; l < num_layers; ++l) {
      if (layer_head_dim[l] < 0)
        return Bad(absl::StrCat("per_layer_config[", l, "].head_dim"),
                   absl::StrCat("must be > 0, got ", layer_head_dim[l]));
      if (layer_kv_heads[l] < 0)
        return Bad(absl::StrCat("per_layer_config[", l, "].num_key_value_heads"),
                   absl::StrCat("must be > 0, got ", layer_kv_heads[l]));
    }
  }
  if (any_sliding) SOV_RETURN_IF_ERROR(Positive("sliding_window", sliding_window));
  if (num_heads % num_kv_heads != 0)
    return Bad("num_key_value_heads", absl::StrCat(num_kv_heads, " does not divide num_attention_heads ",
                                                   num_heads));
  if (attention_k_eq_v && num_global_kv_heads > 0 && num_heads % num_global_kv_heads != 0)
    return Bad("num_global_key_value_heads",
               absl::StrCat(num_global_kv_heads, " does not divide num_attention_heads ", num_heads));
  if (num_global_kv_heads < 0)
    return Bad("num_global_key_value_heads", absl::StrCat("must be >= 0, got ", num_global_kv_heads));
  SOV_RETURN_IF_ERROR(CheckRope("rope_parameters.sliding_attention", rope_sliding));
  SOV_RETURN_IF_ERROR(CheckRope("rope_parameters.full_attention", rope_full));
  if (ple_dim < 0)
    return Bad("hidden_size_per_layer_input", absl::StrCat("must be >= 0, got ", ple_dim));
  if (ple_dim > 0) SOV_RETURN_IF_ERROR(Positive("vocab_size_per_layer_input", ple_vocab));
  if (num_kv_shared_layers < 0 || num_kv_shared_layers >= num_layers)
    return Bad("num_kv_shared_layers", absl::StrCat("must be in [0, num_hidden_layers), got ",
                                                    num_kv_shared_layers));
  if (enable_moe) {
    SOV_RETURN_IF_ERROR(Positive("num_experts", num_experts));
    SOV_RETURN_IF_ERROR(Positive("top_k_experts", top_k_experts));
    SOV_RETURN_IF_ERROR(Positive("moe_intermediate_size", moe_intermediate_size));
    if (top_k_experts > num_experts)
      return Bad("top_k_experts", absl::StrCat(top_k_experts, " exceeds num_experts ", num_experts));
  }
  if (final_logit_softcapping < 0.0 || !std::isfinite(final_logit_softcapping))
    return Bad("final_logit_softcapping",
               absl::StrCat("must be >= 0 (0 = none), got ", final_logit_softcapping));
  if (!(rms_norm_eps > 0.0))
    return Bad("rms_norm_eps", absl::StrCat("must be > 0, got ", rms_norm_eps));
  return absl::OkStatus();
}

absl::Status ModelConfig::Finalize() {
  SOV_RETURN_IF_ERROR(Validate());
  layers.assign(num_layers, LayerConfig{});
  const int64_t first_shared = first_shared_layer();
  for (int64_t l = 0; l < num_layers; ++l) {
    LayerConfig& lc = layers[l];
    lc.type = layer_types[l];
    const bool full = lc.type == LayerType::kFull;
    if (has_layer_overrides) {
      lc.head_dim = layer_head_dim[l] > 0 ? layer_head_dim[l] : head_dim;
      lc.n_kv_heads = layer_kv_heads[l] > 0 ? layer_kv_heads[l] : num_kv_heads;
    } else {
      lc.head_dim = full ? global_head_dim : head_dim;
      // HF: num_global_key_value_heads applies only to full layers of k_eq_v models.
      lc.n_kv_heads = (full && attention_k_eq_v && num_global_kv_heads > 0) ? num_global_kv_heads
                                                                             : num_kv_heads;
    }
    if (lc.head_dim % 2 != 0)
      return Bad(absl::StrCat("head_dim of layer ", l), absl::StrCat("must be even, got ", lc.head_dim));
    if (num_heads % lc.n_kv_heads != 0)
      return Bad(absl::StrCat("num_key_value_heads of layer ", l),
                 absl::StrCat(lc.n_kv_heads, " does not divide num_attention_heads ", num_heads));
    lc.owns_kv = l < first_shared;
    lc.kv_source = l;
    if (!lc.owns_kv) {
      int64_t src = -1;
      for (int64_t j = first_shared - 1; j >= 0; --j) {
        if (layer_types[j] == lc.type) {
          src = j;
          break;
        }
      }
      if (src < 0)
        return Bad("num_kv_shared_layers",
                   absl::StrCat("leaves KV-shared layer ", l, " (", std::string(LayerTypeName(lc.type)),
                                ") without a non-shared layer of the same type to read from"));
      lc.kv_source = src;
    }
    lc.k_eq_v = lc.owns_kv && full && attention_k_eq_v;
    lc.ffn_dim = intermediate_size * ((use_double_wide_mlp && !lc.owns_kv) ? 2 : 1);
    lc.moe = enable_moe;
  }
  // A shared layer attends over its donor's K/V: the donor's KV heads, and the
  // head size must agree (its own q has that size).
  for (int64_t l = 0; l < num_layers; ++l) {
    const LayerConfig& src = layers[layers[l].kv_source];
    if (layers[l].head_dim != src.head_dim)
      return Bad("layer_types", absl::StrCat("layer ", l, " (head_dim ", layers[l].head_dim,
                                             ") reads the K/V of layer ", layers[l].kv_source,
                                             " (head_dim ", src.head_dim, ")"));
    layers[l].n_kv_heads = src.n_kv_heads;
  }
  // HF builds one RoPE table per layer type, from one head size.
  for (int64_t l = 0; l < num_layers; ++l) {
    for (int64_t j = 0; j < l; ++j) {
      if (layers[j].type == layers[l].type && layers[j].head_dim != layers[l].head_dim)
        return Bad("per_layer_config",
                   absl::StrCat("gives layers ", j, " and ", l, " of type ",
                                std::string(LayerTypeName(layers[l].type)),
                                " different head dims (", layers[j].head_dim, " vs ",
                                layers[l].head_dim, ")"));
    }
  }
  return absl::OkStatus();
}

namespace {

RopeConfig SlidingRope() { return RopeConfig{RopeType::kDefault, 10000.0, 1.0, 1.0}; }
RopeConfig FullRope() { return RopeConfig{RopeType::kProportional, 1e6, 0.25, 1.0}; }

std::vector<LayerType> Pattern(int64_t n_layers, int64_t period) {
  std::vector<LayerType> t;
  for (int64_t i = 0; i < n_layers; ++i)
    t.push_back((i + 1) % period == 0 ? LayerType::kFull : LayerType::kSliding);
  return t;
}

ModelConfig Common() {
  ModelConfig c;
  c.vocab_size = 262144;
  c.head_dim = 256;
  c.global_head_dim = 512;
  c.rope_sliding = SlidingRope();
  c.rope_full = FullRope();
  c.final_logit_softcapping = 30.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  return c;
}

ModelConfig Done(ModelConfig c) {
  absl::Status s = c.Finalize();
  SOV_CHECK(s.ok()) << s.message();
  return c;
}

}  // namespace

ModelConfig Gemma4E2B() {
  ModelConfig c = Common();
  c.name = "gemma4-e2b";
  c.hidden_size = 1536;
  c.intermediate_size = 6144;
  c.use_double_wide_mlp = true;
  c.num_layers = 35;
  c.layer_types = Pattern(35, 5);
  c.sliding_window = 512;
  c.num_heads = 8;
  c.num_kv_heads = 1;
  c.ple_dim = 256;
  c.ple_vocab = 262144;
  c.num_kv_shared_layers = 20;
  c.max_position_embeddings = 131072;
  return Done(c);
}

ModelConfig Gemma4E4B() {
  ModelConfig c = Common();
  c.name = "gemma4-e4b";
  c.hidden_size = 2560;
  c.intermediate_size = 10240;
  c.num_layers = 42;
  c.layer_types = Pattern(42, 6);
  c.sliding_window = 512;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.ple_dim = 256;
  c.ple_vocab = 262144;
  c.num_kv_shared_layers = 18;
  c.max_position_embeddings = 131072;
  return Done(c);
}

ModelConfig Gemma4_26B_A4B() {
  ModelConfig c = Common();
  c.name = "gemma4-26b-a4b";
  c.hidden_size = 2816;
  c.intermediate_size = 2112;
  c.num_layers = 30;
  c.layer_types = Pattern(30, 6);
  c.sliding_window = 1024;
  c.num_heads = 16;
  c.num_kv_heads = 8;
  c.num_global_kv_heads = 2;
  c.attention_k_eq_v = true;
  c.enable_moe = true;
  c.num_experts = 128;
  c.top_k_experts = 8;
  c.moe_intermediate_size = 704;
  c.max_position_embeddings = 262144;
  return Done(c);
}

ModelConfig Gemma4_31B() {
  ModelConfig c = Common();
  c.name = "gemma4-31b";
  c.hidden_size = 5376;
  c.intermediate_size = 21504;
  c.num_layers = 60;
  c.layer_types = Pattern(60, 6);
  c.sliding_window = 1024;
  c.num_heads = 32;
  c.num_kv_heads = 16;
  c.num_global_kv_heads = 4;
  c.attention_k_eq_v = true;
  c.max_position_embeddings = 262144;
  return Done(c);
}

}  // namespace sov::gemma4
