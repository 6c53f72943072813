#include "runtime/gemma3_gguf.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/gemma3/tensor_table.h"
#include "runtime/check.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

std::string Key(std::string_view suffix) { return absl::StrCat("gemma3.", Av(suffix)); }

absl::Status Bad(const GgufReader& g, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(g.name(), ": ", Av(what)));
}

// A per-layer key that Sovereign's Gemma 3 graph needs uniform over layers.
absl::StatusOr<int64_t> Uniform(const GgufReader& g, std::string_view suffix, uint32_t n_layer) {
  SOV_ASSIGN_OR_RETURN(std::vector<uint32_t> v, g.GetU32PerLayer(Key(suffix), n_layer));
  for (uint32_t x : v)
    if (x != v[0])
      return Bad(g, absl::StrCat(Key(suffix), " differs between layers (", v[0], " vs ", x,
                                 "); Gemma 3 layers all have the same geometry"));
  return static_cast<int64_t>(v[0]);
}

}  // namespace

absl::StatusOr<gemma3::ModelConfig> Gemma3ConfigFromGguf(const GgufReader& g) {
  SOV_ASSIGN_OR_RETURN(std::string_view arch, g.GetString("general.architecture"));
  if (arch != "gemma3")
    return Bad(g, absl::StrCat("general.architecture is \"", Av(arch), "\", not \"gemma3\""));
  gemma3::ModelConfig c;
  if (g.Has("general.name")) {
    SOV_ASSIGN_OR_RETURN(std::string_view name, g.GetString("general.name"));
    c.name = std::string(name);
  }
  SOV_ASSIGN_OR_RETURN(uint32_t n_layer, g.GetU32(Key("block_count")));
  if (n_layer == 0 || n_layer > 4096)
    return Bad(g, absl::StrCat(Key("block_count"), " = ", n_layer));
  c.num_layers = n_layer;
  SOV_ASSIGN_OR_RETURN(uint32_t h, g.GetU32(Key("embedding_length")));
  c.hidden_size = h;
  SOV_ASSIGN_OR_RETURN(c.intermediate_size, Uniform(g, "feed_forward_length", n_layer));
  SOV_ASSIGN_OR_RETURN(c.num_heads, Uniform(g, "attention.head_count", n_layer));
  SOV_ASSIGN_OR_RETURN(c.num_kv_heads, Uniform(g, "attention.head_count_kv", n_layer));
  // llama.cpp's default head size is n_embd / n_head.
  const uint32_t def_head = c.num_heads > 0 ? static_cast<uint32_t>(h / c.num_heads) : 0;
  SOV_ASSIGN_OR_RETURN(uint32_t kd, g.GetU32Or(Key("attention.key_length"), def_head));
  SOV_ASSIGN_OR_RETURN(uint32_t vd, g.GetU32Or(Key("attention.value_length"), kd));
  if (kd != vd)
    return Bad(g, absl::StrCat(Key("attention.key_length"), " (", kd,
                               ") != ", Key("attention.value_length"), " (", vd, ")"));
  c.head_dim = kd;
  SOV_ASSIGN_OR_RETURN(uint32_t win, g.GetU32(Key("attention.sliding_window")));
  c.sliding_window = win;
  SOV_ASSIGN_OR_RETURN(uint32_t ctx, g.GetU32(Key("context_length")));
  c.context_length = ctx;
  SOV_ASSIGN_OR_RETURN(float eps, g.GetF32(Key("attention.layer_norm_rms_epsilon")));
  c.rms_norm_eps = eps;
  SOV_ASSIGN_OR_RETURN(float base, g.GetF32Or(Key("rope.freq_base"), 10000.0f));
  c.rope_theta_global = base;
  if (g.Has(Key("rope.scaling.type"))) {
    SOV_ASSIGN_OR_RETURN(std::string_view type, g.GetString(Key("rope.scaling.type")));
    if (type == "linear") {
      SOV_ASSIGN_OR_RETURN(float f, g.GetF32(Key("rope.scaling.factor")));
      c.rope_scale_global = f;
    } else if (type != "none") {
      return Bad(g, absl::StrCat(Key("rope.scaling.type"), " = \"", Av(type),
                                 "\" is not supported (linear, none)"));
    }
  } else if (g.Has(Key("rope.scaling.factor"))) {
    SOV_ASSIGN_OR_RETURN(float f, g.GetF32(Key("rope.scaling.factor")));
    if (f != 0.0f) c.rope_scale_global = f;  // llama.cpp: factor alone means linear
  }
  SOV_ASSIGN_OR_RETURN(float cap, g.GetF32Or(Key("final_logit_softcapping"), 0.0f));
  c.final_logit_softcapping = cap;
  if (g.Has(Key("attention.sliding_window_pattern"))) {
    // llama.cpp's per-layer flag: true = sliding-window layer.
    SOV_ASSIGN_OR_RETURN(std::vector<bool> swa,
                         g.GetBoolPerLayer(Key("attention.sliding_window_pattern"), n_layer));
    c.global_layers.resize(n_layer);
    for (uint32_t l = 0; l < n_layer; ++l) c.global_layers[l] = !swa[l];
  }
  SOV_ASSIGN_OR_RETURN(const GgufTensor* embd,
                       g.GetTensor(gemma3::GgufName(gemma3::TensorId::kEmbedTokens)));
  if (embd->n_dims != 2) return Bad(g, "token_embd.weight is not 2-D");
  c.vocab_size = embd->ne[1];
  c.tied_output = g.FindTensor(gemma3::GgufName(gemma3::TensorId::kOutput)) == nullptr;
  if (absl::Status s = c.Finalize(); !s.ok()) return Bad(g, std::string(s.message()));
  return c;
}

absl::StatusOr<std::unique_ptr<GgufWeights>> Gemma3WeightsFromGguf(const GgufReader& g,
                                                                   const gemma3::ModelConfig& c) {
  auto w = std::make_unique<GgufWeights>(g);
  for (const gemma3::TensorInfo& info : gemma3::TensorTable()) {
    if (info.id == gemma3::TensorId::kOutput && c.tied_output) continue;
    const std::vector<int64_t> shape = gemma3::Shape(c, info.id);
    const int64_t layers = info.per_layer ? c.num_layers : 1;
    for (int64_t l = 0; l < layers; ++l) {
      const std::string name = gemma3::GgufName(info.id, info.per_layer ? l : -1);
      if (info.is_matrix) {
        SOV_RETURN_IF_ERROR(w->AddMatrix(name, shape));
      } else {
        SOV_RETURN_IF_ERROR(w->AddVector(name, shape[0]));
      }
    }
  }
  return w;
}

}  // namespace sov
