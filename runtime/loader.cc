#include "runtime/loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/api.h"
#include "models/gemma4/builder.h"
#include "models/gemma4/tensor_table.h"
#include "quant/float16.h"
#include "runtime/check.h"
#include "runtime/gguf_model.h"
#include "runtime/json_util.h"
#include "runtime/tensor.h"

namespace sov {

using gemma4::LayerType;
using gemma4::ModelConfig;
using gemma4::Presence;
using gemma4::RopeConfig;
using gemma4::RopeType;
using gemma4::TensorId;

namespace {

// ---- config.json -> ModelConfig ---------------------------------------------

bool IsNull(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_null();
}

absl::StatusOr<RopeConfig> RopeFromJson(const nlohmann::json& obj, const std::string& key,
                                        RopeConfig def) {
  RopeConfig r = def;
  SOV_ASSIGN_OR_RETURN(std::string type, GetStringOr(obj, "rope_type", "default"));
  if (type == "default") {
    r.type = RopeType::kDefault;
  } else if (type == "proportional") {
    r.type = RopeType::kProportional;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("config: ", key, ".rope_type \"", type,
                                                   "\" is not supported (default, proportional)"));
  }
  SOV_ASSIGN_OR_RETURN(r.theta, GetDoubleOr(obj, "rope_theta", def.theta));
  SOV_ASSIGN_OR_RETURN(r.partial_rotary_factor, GetDoubleOr(obj, "partial_rotary_factor", 1.0));
  SOV_ASSIGN_OR_RETURN(r.factor, GetDoubleOr(obj, "factor", 1.0));
  return r;
}

absl::Status WithKeyPrefix(const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("config: ", s.message()));
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

absl::StatusOr<ModelConfig> Gemma4ConfigFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("config: text config is not an object");
  ModelConfig c;
  c.name = "hf";
  auto st = [](const absl::Status& s) { return WithKeyPrefix(s); };
#define SOV_CFG(lhs, expr)                  \
  {                                         \
    auto sov_v_ = (expr);                   \
    if (!sov_v_.ok()) return st(sov_v_.status()); \
    lhs = *sov_v_;                          \
  }
  // Defaults are HF Gemma4TextConfig's.
  SOV_CFG(c.vocab_size, GetIntOr(j, "vocab_size", 262144));
  SOV_CFG(c.hidden_size, GetIntOr(j, "hidden_size", 2304));
  SOV_CFG(c.intermediate_size, GetIntOr(j, "intermediate_size", 9216));
  SOV_CFG(c.num_layers, GetIntOr(j, "num_hidden_layers", 30));
  SOV_CFG(c.num_heads, GetIntOr(j, "num_attention_heads", 8));
  SOV_CFG(c.num_kv_heads, GetIntOr(j, "num_key_value_heads", 4));
  SOV_CFG(c.head_dim, GetIntOr(j, "head_dim", 256));
  // HF: a null/0 global_head_dim means full layers use head_dim.
  SOV_CFG(c.global_head_dim, GetIntOr(j, "global_head_dim", 512));
  if (IsNull(j, "global_head_dim") || c.global_head_dim == 0) c.global_head_dim = c.head_dim;
  SOV_CFG(c.max_position_embeddings, GetIntOr(j, "max_position_embeddings", 131072));
  SOV_CFG(c.rms_norm_eps, GetDoubleOr(j, "rms_norm_eps", 1e-6));
  SOV_CFG(c.tie_word_embeddings, GetBoolOr(j, "tie_word_embeddings", true));
  SOV_CFG(c.sliding_window, GetIntOr(j, "sliding_window", 512));
  SOV_CFG(c.final_logit_softcapping, GetDoubleOr(j, "final_logit_softcapping", 0.0));
  SOV_CFG(c.ple_vocab, GetIntOr(j, "vocab_size_per_layer_input", 262144));
  SOV_CFG(c.ple_dim, GetIntOr(j, "hidden_size_per_layer_input", 256));
  if (IsNull(j, "hidden_size_per_layer_input")) c.ple_dim = 0;  // null disables PLE
  SOV_CFG(c.attention_k_eq_v, GetBoolOr(j, "attention_k_eq_v", false));
  SOV_CFG(c.num_global_kv_heads, GetIntOr(j, "num_global_key_value_heads", 0));
  SOV_CFG(c.num_kv_shared_layers, GetIntOr(j, "num_kv_shared_layers", 0));
  SOV_CFG(c.enable_moe, GetBoolOr(j, "enable_moe_block", false));
  SOV_CFG(c.use_double_wide_mlp, GetBoolOr(j, "use_double_wide_mlp", false));
  SOV_CFG(c.num_experts, GetIntOr(j, "num_experts", 0));
  SOV_CFG(c.top_k_experts, GetIntOr(j, "top_k_experts", 0));
  SOV_CFG(c.moe_intermediate_size, GetIntOr(j, "moe_intermediate_size", 0));
  {
    int64_t pad, bos;
    SOV_CFG(pad, GetIntOr(j, "pad_token_id", 0));
    SOV_CFG(bos, GetIntOr(j, "bos_token_id", 2));
    c.pad_token_id = static_cast<int32_t>(pad);
    c.bos_token_id = static_cast<int32_t>(bos);
    // eos_token_id may be a list; the first entry is kept for reference only.
    auto it = j.find("eos_token_id");
    if (it != j.end() && it->is_number_integer()) c.eos_token_id = it->get<int32_t>();
    if (it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_number_integer())
      c.eos_token_id = (*it)[0].get<int32_t>();
  }

  // Features Gemma 4 text models do not use and this runtime does not implement.
  std::string act;
  SOV_CFG(act, GetStringOr(j, "hidden_activation", "gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh" && act != "gelu_tanh")
    return absl::InvalidArgumentError(absl::StrCat(
        "config: hidden_activation \"", act, "\" is not supported (gelu_pytorch_tanh)"));
  bool bias;
  SOV_CFG(bias, GetBoolOr(j, "attention_bias", false));
  if (bias) return absl::InvalidArgumentError("config: attention_bias true is not supported");
  std::string bidi;
  SOV_CFG(bidi, GetStringOr(j, "use_bidirectional_attention", ""));
  if (bidi == "all")
    return absl::InvalidArgumentError(
        "config: use_bidirectional_attention \"all\" is not supported (text decoding is causal)");

  // layer_types: default every 6th full; HF forces the last layer full.
  auto lt = j.find("layer_types");
  if (lt == j.end() || lt->is_null()) {
    c.layer_types = gemma4::DefaultLayerTypes(c.num_layers);
  } else {
    std::vector<std::string> names;
    SOV_CFG(names, GetStringArray(j, "layer_types"));
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "sliding_attention") {
        c.layer_types.push_back(LayerType::kSliding);
      } else if (names[i] == "full_attention") {
        c.layer_types.push_back(LayerType::kFull);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("config: layer_types[", i, "] \"", names[i],
                                                       "\" is not sliding_attention or full_attention"));
      }
    }
    if (!c.layer_types.empty()) c.layer_types.back() = LayerType::kFull;
  }

  // per_layer_config (newer transformers): {"5": {"head_dim": 512, "num_key_value_heads": 2}}.
  // Only head_dim and num_key_value_heads are read by the text decoder.
  {
    const nlohmann::json* plc = nullptr;
    SOV_CFG(plc, GetObjectOrNull(j, "per_layer_config"));
    if (plc != nullptr) {
      c.has_layer_overrides = true;
      c.layer_head_dim.assign(c.num_layers > 0 ? c.num_layers : 0, 0);
      c.layer_kv_heads.assign(c.num_layers > 0 ? c.num_layers : 0, 0);
      for (auto it = plc->begin(); it != plc->end(); ++it) {
        const std::string& k = it.key();
        int64_t idx = -1;
        try {
          size_t used = 0;
          idx = std::stoll(k, &used);
          if (used != k.size()) idx = -1;
        } catch (...) {
          idx = -1;
        }
        if (idx < 0 || idx >= c.num_layers || !it.value().is_object())
          return absl::InvalidArgumentError(absl::StrCat(
              "config: per_layer_config key \"", k, "\" must name a layer in [0, ", c.num_layers,
              ") and hold an object"));
        const std::string where = absl::StrCat("per_layer_config[", k, "].");
        auto hd = GetIntOr(it.value(), "head_dim", 0);
        if (!hd.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", where, hd.status().message()));
        auto kv = GetIntOr(it.value(), "num_key_value_heads", 0);
        if (!kv.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", where, kv.status().message()));
        c.layer_head_dim[idx] = *hd;
        c.layer_kv_heads[idx] = *kv;
      }
    }
  }

  // rope_parameters per layer type.
  c.rope_sliding = RopeConfig{RopeType::kDefault, 10000.0, 1.0, 1.0};
  c.rope_full = RopeConfig{RopeType::kProportional, 1e6, 0.25, 1.0};
  const nlohmann::json* rp = nullptr;
  SOV_CFG(rp, GetObjectOrNull(j, "rope_parameters"));
  if (rp != nullptr) {
    const nlohmann::json* s = nullptr;
    const nlohmann::json* f = nullptr;
    SOV_CFG(s, GetObjectOrNull(*rp, "sliding_attention"));
    SOV_CFG(f, GetObjectOrNull(*rp, "full_attention"));
    if (s != nullptr)
      SOV_CFG(c.rope_sliding,
              RopeFromJson(*s, "rope_parameters.sliding_attention", c.rope_sliding));
    if (f != nullptr)
      SOV_CFG(c.rope_full, RopeFromJson(*f, "rope_parameters.full_attention", c.rope_full));
    // Defaults of a type that is given without partial_rotary_factor.
    if (f != nullptr && !f->contains("partial_rotary_factor")) c.rope_full.partial_rotary_factor = 1.0;
  }
#undef SOV_CFG
  SOV_RETURN_IF_ERROR(c.Finalize());
  return c;
}

absl::StatusOr<ModelConfig> Gemma4ConfigFromHf(const HfConfig& hf) {
  if (hf.text_model_type != "gemma4_text")
    return absl::InvalidArgumentError(absl::StrCat(hf.path, ": model_type \"", hf.model_type,
                                                   "\" is not a Gemma 4 model (gemma4, gemma4_text)"));
  // A multimodal (nested) checkpoint ties the LM head by the top-level flag
  // (Gemma4Config defaults it to true) and then saves no lm_head.weight.
  nlohmann::json text = hf.text;
  if (hf.nested) {
    auto tie = GetBoolOr(hf.root, "tie_word_embeddings", true);
    if (!tie.ok()) return absl::InvalidArgumentError(absl::StrCat(hf.path, ": ", tie.status().message()));
    text["tie_word_embeddings"] = *tie;
  }
  absl::StatusOr<ModelConfig> c = Gemma4ConfigFromJson(text);
  if (!c.ok()) return absl::Status(c.status().code(), absl::StrCat(hf.path, ": ", c.status().message()));
  return c;
}

// ---- WeightProvider ---------------------------------------------------------------

absl::StatusOr<kernels::WeightView> Gemma4Weights::Matrix(std::string_view name) const {
  auto it = matrices_.find(name);
  if (it == matrices_.end())
    return absl::NotFoundError(absl::StrCat("no matrix weight named ", std::string(name)));
  return it->second.view;
}

absl::StatusOr<std::span<const float>> Gemma4Weights::Vector(std::string_view name) const {
  auto it = vectors_.find(name);
  if (it == vectors_.end())
    return absl::NotFoundError(absl::StrCat("no vector weight named ", std::string(name)));
  return std::span<const float>(it->second);
}

absl::StatusOr<std::vector<kernels::WeightView>> Gemma4Weights::MatrixStack(
    std::string_view name) const {
  auto it = stacks_.find(name);
  if (it == stacks_.end())
    return absl::NotFoundError(absl::StrCat("no expert stack named ", std::string(name)));
  return it->second.views;
}

absl::StatusOr<float*> Gemma4Weights::MutableMatrixF32(std::string_view name) {
  auto it = matrices_.find(name);
  if (it == matrices_.end())
    return absl::NotFoundError(absl::StrCat("no matrix weight named ", std::string(name)));
  Matrix2D& m = it->second;
  const int64_t n = m.view.rows * m.view.cols;
  std::vector<uint8_t> f(static_cast<size_t>(n) * 4);
  float* out = reinterpret_cast<float*>(f.data());
  if (m.view.dtype == DType::kF32) {
    std::memcpy(out, m.view.data, f.size());
  } else if (m.view.dtype == DType::kBF16) {
    const auto* h = static_cast<const uint16_t*>(m.view.data);
    for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToFp32(h[i]);
  } else {
    return absl::FailedPreconditionError(absl::StrCat(std::string(name), " is not f32/bf16"));
  }
  m.owned = std::move(f);
  m.view.data = m.owned.data();
  m.view.dtype = DType::kF32;
  m.view.row_bytes = static_cast<size_t>(m.view.cols) * 4;
  return reinterpret_cast<float*>(m.owned.data());
}

// ---- Loading ------------------------------------------------------------------------

namespace {

// Element i of an F32/BF16/F16 buffer as float.
float LoadElem(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, static_cast<const uint8_t*>(data) + 4 * i, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(data) + 2 * i, 2);
      return Bf16ToFp32(h);
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(data) + 2 * i, 2);
      return Fp16ToFp32(h);
    }
    default:
      SOV_CHECK(false) << "LoadElem on " << Name(t);
      return 0.0f;
  }
}

// bf16 copy of `n` F32/F16 elements (the bf16-weight path).
std::vector<uint8_t> ToBf16(const void* data, DType t, int64_t n) {
  std::vector<uint8_t> out(static_cast<size_t>(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h = Fp32ToBf16(LoadElem(data, t, i));
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

absl::Status InDir(const std::string& dir, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(dir, ": ", s.message()));
}

}  // namespace

class Gemma4Loader {
 public:
  static absl::Status Fill(const ModelConfig& c, WeightStore& store, const LoadOptions& opt,
                           const std::string& dir, Gemma4Weights& w) {
    // Which prefix this checkpoint uses (text-only save vs multimodal).
    std::string prefix = "model.";
    for (const std::string& n : store.reader().names())
      if (n.rfind("model.language_model.", 0) == 0) prefix = "model.language_model.";

    for (const gemma4::TensorInfo& info : gemma4::TensorTable()) {
      const int64_t n_inst = info.per_layer ? c.num_layers : 1;
      for (int64_t i = 0; i < n_inst; ++i) {
        const int64_t layer = info.per_layer ? i : -1;
        const Presence p = gemma4::PresenceOf(c, info.id, layer);
        if (p == Presence::kIgnored || p == Presence::kAbsent) continue;
        const std::string hf = (info.hf_top_level ? "" : prefix) + gemma4::HfName(info.id, layer);
        const std::string key = gemma4::GgufName(info.id, layer);
        if (!store.Has(hf)) {
          if (p == Presence::kOptional) {  // layer_scalar: HF initialises it to 1
            w.vectors_[key] = {1.0f};
            continue;
          }
          return absl::NotFoundError(absl::StrCat(dir, ": missing tensor ", hf, " (",
                                                  gemma4::OurName(info.id, layer),
                                                  ") required by config.json"));
        }
        const std::vector<int64_t> want = gemma4::Shape(c, info.id, layer);
        if (want.size() == 1) {
          absl::StatusOr<const float*> v = store.F32Copy(hf, want);
          if (!v.ok()) return InDir(dir, v.status());
          std::vector<float> f(*v, *v + want[0]);
          if (opt.bf16_weights)
            for (float& x : f) x = Bf16ToFp32(Fp32ToBf16(x));
          w.vectors_[key] = std::move(f);
        } else if (want.size() == 2) {
          absl::StatusOr<kernels::WeightView> v = store.Matrix(hf, want[0], want[1]);
          if (!v.ok()) return InDir(dir, v.status());
          Gemma4Weights::Matrix2D m;
          m.view = *v;
          if (opt.bf16_weights && m.view.dtype != DType::kBF16) {
            m.owned = ToBf16(m.view.data, m.view.dtype, want[0] * want[1]);
            m.view.dtype = DType::kBF16;
            m.view.row_bytes = RowBytes(DType::kBF16, want[1]);
          }
          auto [it, ins] = w.matrices_.insert_or_assign(key, std::move(m));
          if (!it->second.owned.empty()) it->second.view.data = it->second.owned.data();
        } else {
          absl::StatusOr<TensorView> t = store.Tensor(hf, want);
          if (!t.ok()) return InDir(dir, t.status());
          Gemma4Weights::Stack3D st;
          DType dt = t->dtype;
          const uint8_t* base = static_cast<const uint8_t*>(t->data);
          if (opt.bf16_weights && dt != DType::kBF16) {
            st.owned = ToBf16(t->data, dt, t->numel());
            dt = DType::kBF16;
          }
          auto [it, ins] = w.stacks_.insert_or_assign(key, std::move(st));
          Gemma4Weights::Stack3D& s3 = it->second;
          if (!s3.owned.empty()) base = s3.owned.data();
          const size_t rb = RowBytes(dt, want[2]);
          for (int64_t e = 0; e < want[0]; ++e) {
            kernels::WeightView v;
            v.data = base + static_cast<size_t>(e) * static_cast<size_t>(want[1]) * rb;
            v.dtype = dt;
            v.rows = want[1];
            v.cols = want[2];
            v.row_bytes = rb;
            s3.views.push_back(v);
          }
        }
      }
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Gemma4Model>> LoadGemma4(const std::string& dir,
                                                        const LoadOptions& opt) {
  if (IsGgufFile(dir)) return LoadGemma4Gguf(dir, opt);
  if (!IsDir(dir))
    return absl::NotFoundError(absl::StrCat("model directory ", dir, " does not exist"));
  auto m = std::make_unique<Gemma4Model>();
  m->dir = dir;
  SOV_ASSIGN_OR_RETURN(HfConfig hf, ReadHfConfig(dir));
  SOV_ASSIGN_OR_RETURN(m->config, Gemma4ConfigFromHf(hf));
  SOV_ASSIGN_OR_RETURN(WeightStore store, WeightStore::Open(dir));
  m->store = std::make_unique<WeightStore>(std::move(store));
  m->weights = std::make_unique<Gemma4Weights>();
  SOV_RETURN_IF_ERROR(Gemma4Loader::Fill(m->config, *m->store, opt, dir, *m->weights));
  return m;
}

absl::Status CheckTokens(const ModelConfig& c, std::span<const int32_t> tokens) {
  if (tokens.empty()) return absl::InvalidArgumentError("the token list is empty");
  if (static_cast<int64_t>(tokens.size()) > c.max_position_embeddings)
    return absl::InvalidArgumentError(absl::StrCat(tokens.size(), " tokens exceed the context of ",
                                                   c.max_position_embeddings,
                                                   " (max_position_embeddings)"));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      return absl::InvalidArgumentError(absl::StrCat("token ", i, " has id ", tokens[i],
                                                     ", outside the vocabulary [0, ",
                                                     c.vocab_size, ")"));
    // PLE gathers a second table, which may have fewer rows.
    if (c.has_ple() && tokens[i] >= c.ple_vocab)
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", i, " has id ", tokens[i], ", outside the per-layer embedding table [0, ",
          c.ple_vocab, ") (vocab_size_per_layer_input)"));
  }
  return absl::OkStatus();
}

// ---- Runner --------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Gemma4Runner>> Gemma4Runner::Create(const Gemma4Model& m,
                                                                   const RunnerOptions& opt) {
  std::unique_ptr<Gemma4Runner> r(new Gemma4Runner());
  r->model_ = &m;
  r->opt_ = opt;
  gemma4::BuildOptions bo;
  bo.last_row_only = opt.last_row_only;
  bo.debug_taps = opt.debug_taps;
  SOV_ASSIGN_OR_RETURN(r->graph_, gemma4::BuildGraph(m.config, bo));
  const int64_t t = std::max<int64_t>(opt.max_tokens, 1);
  r->ex_opt_.prefill_rows = std::min(t, kMaxPrefillRows);
  r->ex_opt_.context = std::max(opt.context, t);
  r->ex_opt_.threads = opt.threads;
  r->ex_opt_.fuse = opt.fuse;
  r->ex_opt_.numerics = opt.numerics;
  SOV_ASSIGN_OR_RETURN(r->ex_, Executor::Create(r->graph_, *m.weights, r->ex_opt_));
  return r;
}

absl::StatusOr<std::vector<float>> Gemma4Runner::Logits(std::span<const int32_t> tokens) {
  SOV_RETURN_IF_ERROR(CheckTokens(model_->config, tokens));
  ex_->Reset();
  SOV_ASSIGN_OR_RETURN(sov::Logits l, ex_->Prefill(tokens));
  return std::move(l.data);
}

absl::StatusOr<std::vector<int32_t>> Gemma4Runner::Generate(std::span<const int32_t> prompt,
                                                            int64_t n) {
  SOV_RETURN_IF_ERROR(CheckTokens(model_->config, prompt));
  ex_->Reset();
  std::vector<int32_t> out;
  if (n <= 0) return out;
  SOV_ASSIGN_OR_RETURN(sov::Logits l, ex_->Prefill(prompt));
  int32_t next = static_cast<int32_t>(kernels::Argmax(l.row(l.rows - 1), l.cols));
  out.push_back(next);
  while (static_cast<int64_t>(out.size()) < n) {
    SOV_ASSIGN_OR_RETURN(l, ex_->Decode(next));
    next = static_cast<int32_t>(kernels::Argmax(l.row(l.rows - 1), l.cols));
    out.push_back(next);
  }
  return out;
}

std::string Gemma4Runner::DumpPlan(bool full) const {
  const graph::Plan& p = ex_->prefill_plan();
  if (full) return p.Dump(ex_opt_.prefill_rows, ex_opt_.context);
  return absl::StrCat("plan ", p.graph_name, ": ", p.steps.size(), " steps, t_max ", p.t_max,
                      ", arena ", p.arena_bytes, " bytes (", p.naive_bytes,
                      " without reuse), KV cache ",
                      p.KvCacheBytes(ex_opt_.prefill_rows, ex_opt_.context),
                      " bytes; fused: ", p.fusion.add_rmsnorm, " add+rmsnorm, ", p.fusion.ffn_up,
                      " ffn-up, ", p.fusion.norm_matmuls, " norm+matmuls\n");
}

}  // namespace sov
