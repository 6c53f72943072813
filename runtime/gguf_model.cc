#include "runtime/gguf_model.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "models/gemma4/tensor_table.h"
#include "quant/float16.h"
#include "quant/quantize.h"
#include "runtime/check.h"
#include "runtime/str_util.h"

namespace sov {

using gemma4::LayerType;
using gemma4::ModelConfig;
using gemma4::Presence;
using gemma4::RopeConfig;
using gemma4::RopeType;
using gemma4::TensorId;

bool IsGgufFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  uint32_t magic = 0;
  const bool ok = std::fread(&magic, 1, 4, f) == 4;
  std::fclose(f);
  return ok && magic == kGgufMagic;
}

std::vector<float> RopeFreqFactors(const ModelConfig& c) {
  // The head size of the full layers (per-layer overrides may differ from
  // global_head_dim, which is then unused).
  int64_t hd = c.global_head_dim;
  for (const gemma4::LayerConfig& l : c.layers)
    if (l.type == LayerType::kFull) hd = l.head_dim;
  const std::vector<float> inv = gemma4::RopeInvFreq(c.rope_full, hd);
  std::vector<float> f(inv.size());
  for (size_t i = 0; i < inv.size(); ++i) f[i] = inv[i] != 0.0f ? 1.0f : kRopeFreqOff;
  return f;
}

namespace {

constexpr std::string_view kArch = "gemma4";

std::string Key(std::string_view suffix) { return absl::StrCat(Av(kArch), ".", Av(suffix)); }

absl::Status Bad(const GgufReader& g, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(g.name(), ": ", Av(what)));
}

// ggml ne (innermost first) as a PyTorch shape, trailing 1s of ne dropped.
std::vector<int64_t> TorchShape(const GgufTensor& t) {
  int n = 4;
  while (n > 1 && t.ne[n - 1] == 1) --n;
  std::vector<int64_t> s;
  for (int i = n - 1; i >= 0; --i) s.push_back(t.ne[i]);
  return s;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) absl::StrAppend(&out, i ? "," : "", s[i]);
  return out + "]";
}

absl::Status CheckShape(const GgufReader& g, const GgufTensor& t, const std::vector<int64_t>& want) {
  if (TorchShape(t) == want) return absl::OkStatus();
  std::vector<int64_t> ne(want.rbegin(), want.rend());
  return Bad(g, absl::StrCat("tensor ", Av(t.name), " has ne ",
                             ShapeStr({t.ne[0], t.ne[1], t.ne[2], t.ne[3]}), ", expected ne ",
                             ShapeStr(ne), " (from the gemma4 metadata)"));
}

absl::StatusOr<DType> ReadableType(const GgufReader& g, const GgufTensor& t) {
  if (!t.dtype.has_value() || !CanDequantize(*t.dtype))
    return Bad(g, absl::StrCat("tensor ", Av(t.name), " has type ", GgmlTypeName(t.type),
                               ", which Sovereign cannot compute with (supported: f32, f16, bf16, "
                               "q8_0, q4_K, q5_K, q6_K, q4_0, q4_1, q5_0, q5_1)"));
  return *t.dtype;
}

// Element count of a tensor as f32 (any readable type).
absl::StatusOr<std::vector<float>> ToF32(const GgufReader& g, const GgufTensor& t) {
  SOV_ASSIGN_OR_RETURN(DType dt, ReadableType(g, t));
  std::vector<float> out(static_cast<size_t>(t.elements()));
  const int64_t rows = t.elements() / t.ne[0];
  const size_t rb = RowBytes(dt, t.ne[0]);
  for (int64_t r = 0; r < rows; ++r)
    DequantizeRow(dt, t.data + static_cast<size_t>(r) * rb, out.data() + r * t.ne[0], t.ne[0]);
  return out;
}

absl::StatusOr<int64_t> Uniform(const GgufReader& g, std::string_view key,
                                const std::vector<uint32_t>& v) {
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] != v[0])
      return Bad(g, absl::StrCat("key '", Av(key), "' differs between layers (", v[0], " vs ", v[i],
                                 " at layer ", i, "); Gemma 4 uses one value"));
  return static_cast<int64_t>(v.empty() ? 0 : v[0]);
}

// Proportional RoPE from rope_freqs.weight: n leading 1.0 factors, then "off".
absl::StatusOr<RopeConfig> FullRope(const GgufReader& g, double theta, int64_t head_dim) {
  RopeConfig r{RopeType::kDefault, theta, 1.0, 1.0};
  const GgufTensor* t = g.FindTensor("rope_freqs.weight");
  if (t == nullptr) return r;  // llama.cpp then rotates the whole head, as the default RoPE does
  const int64_t half = head_dim / 2;
  SOV_RETURN_IF_ERROR(CheckShape(g, *t, {half}));
  SOV_ASSIGN_OR_RETURN(std::vector<float> f, ToF32(g, *t));
  int64_t n_rot = 0;
  while (n_rot < half && f[n_rot] == 1.0f) ++n_rot;
  for (int64_t i = n_rot; i < half; ++i) {
    // Anything that is neither "rotate" nor "effectively never rotate" is a
    // frequency scaling Gemma 4 does not have.
    if (!(f[i] >= 1e20f))
      return Bad(g, absl::StrCat("rope_freqs.weight[", i, "] = ", f[i],
                                 ": expected 1.0 for the first rotated pairs, then >= 1e20 "
                                 "(Gemma 4 proportional RoPE)"));
  }
  if (n_rot == 0) return Bad(g, "rope_freqs.weight rotates no pair");
  if (n_rot == half) return r;
  r.type = RopeType::kProportional;
  r.partial_rotary_factor = 2.0 * static_cast<double>(n_rot) / static_cast<double>(head_dim);
  // RopeInvFreq floors partial * d / 2; make sure that lands on n_rot.
  while (static_cast<int64_t>(std::floor(r.partial_rotary_factor * head_dim / 2.0)) < n_rot)
    r.partial_rotary_factor = std::nextafter(r.partial_rotary_factor, 2.0);
  return r;
}

}  // namespace

absl::StatusOr<ModelConfig> Gemma4ConfigFromGguf(const GgufReader& g) {
  SOV_ASSIGN_OR_RETURN(std::string_view arch, g.GetString("general.architecture"));
  if (arch != kArch)
    return Bad(g, absl::StrCat("general.architecture is '", Av(arch),
                               "'; this loader reads 'gemma4' models"));
  ModelConfig c;
  c.name = "gguf";
  SOV_ASSIGN_OR_RETURN(uint32_t n_layer, g.GetU32(Key("block_count")));
  if (n_layer == 0) return Bad(g, "key 'gemma4.block_count' is 0");
  c.num_layers = n_layer;
  SOV_ASSIGN_OR_RETURN(uint32_t h, g.GetU32(Key("embedding_length")));
  c.hidden_size = h;
  SOV_ASSIGN_OR_RETURN(uint32_t ctx, g.GetU32(Key("context_length")));
  c.max_position_embeddings = ctx;

  SOV_ASSIGN_OR_RETURN(std::vector<uint32_t> heads, g.GetU32PerLayer(Key("attention.head_count"), n_layer));
  SOV_ASSIGN_OR_RETURN(c.num_heads, Uniform(g, Key("attention.head_count"), heads));
  std::vector<uint32_t> kv = heads;
  if (g.Has(Key("attention.head_count_kv"))) {
    SOV_ASSIGN_OR_RETURN(kv, g.GetU32PerLayer(Key("attention.head_count_kv"), n_layer));
  }
  SOV_ASSIGN_OR_RETURN(std::vector<bool> swa,
                       g.GetBoolPerLayer(Key("attention.sliding_window_pattern"), n_layer));
  for (bool s : swa) c.layer_types.push_back(s ? LayerType::kSliding : LayerType::kFull);

  SOV_ASSIGN_OR_RETURN(uint32_t kl, g.GetU32(Key("attention.key_length")));
  SOV_ASSIGN_OR_RETURN(uint32_t vl, g.GetU32Or(Key("attention.value_length"), kl));
  SOV_ASSIGN_OR_RETURN(uint32_t kl_swa, g.GetU32(Key("attention.key_length_swa")));
  SOV_ASSIGN_OR_RETURN(uint32_t vl_swa, g.GetU32Or(Key("attention.value_length_swa"), kl_swa));
  if (vl != kl || vl_swa != kl_swa)
    return Bad(g, absl::StrCat("value_length (", vl, ", swa ", vl_swa, ") must equal key_length (",
                               kl, ", swa ", kl_swa, ") for gemma4"));
  c.head_dim = kl_swa;
  c.global_head_dim = kl;
  SOV_ASSIGN_OR_RETURN(uint32_t rot, g.GetU32Or(Key("rope.dimension_count"), kl));
  SOV_ASSIGN_OR_RETURN(uint32_t rot_swa, g.GetU32Or(Key("rope.dimension_count_swa"), kl_swa));
  if (rot != kl || rot_swa != kl_swa)
    return Bad(g, absl::StrCat("rope.dimension_count (", rot, ", swa ", rot_swa,
                               ") must span the whole head (", kl, ", swa ", kl_swa,
                               "): partial rotation is expressed by rope_freqs.weight"));
  // Per-layer geometry: head size by layer type, KV heads as stored.
  c.has_layer_overrides = true;
  c.layer_head_dim.resize(n_layer);
  c.layer_kv_heads.resize(n_layer);
  c.num_kv_heads = kv[0];
  for (uint32_t l = 0; l < n_layer; ++l) {
    c.layer_head_dim[l] = swa[l] ? kl_swa : kl;
    c.layer_kv_heads[l] = kv[l];
    if (kv[l] == 0) return Bad(g, absl::StrCat("gemma4.attention.head_count_kv[", l, "] is 0"));
    if (swa[l]) c.num_kv_heads = kv[l];
  }

  SOV_ASSIGN_OR_RETURN(float eps, g.GetF32(Key("attention.layer_norm_rms_epsilon")));
  c.rms_norm_eps = eps;
  SOV_ASSIGN_OR_RETURN(uint32_t window, g.GetU32(Key("attention.sliding_window")));
  c.sliding_window = window;
  SOV_ASSIGN_OR_RETURN(uint32_t shared, g.GetU32Or(Key("attention.shared_kv_layers"), 0));
  c.num_kv_shared_layers = shared;
  SOV_ASSIGN_OR_RETURN(uint32_t ple, g.GetU32(Key("embedding_length_per_layer_input")));
  c.ple_dim = ple;
  SOV_ASSIGN_OR_RETURN(float softcap, g.GetF32Or(Key("final_logit_softcapping"), 0.0f));
  c.final_logit_softcapping = softcap;
  if (g.Has(Key("rope.scaling.factor"))) {
    SOV_ASSIGN_OR_RETURN(float f, g.GetF32(Key("rope.scaling.factor")));
    if (f != 1.0f && f != 0.0f)
      return Bad(g, absl::StrCat("gemma4.rope.scaling.factor ", f, " is not supported (1.0)"));
  }
  SOV_ASSIGN_OR_RETURN(float base, g.GetF32Or(Key("rope.freq_base"), 10000.0f));
  SOV_ASSIGN_OR_RETURN(float base_swa, g.GetF32Or(Key("rope.freq_base_swa"), base));
  c.rope_sliding = RopeConfig{RopeType::kDefault, base_swa, 1.0, 1.0};
  SOV_ASSIGN_OR_RETURN(c.rope_full, FullRope(g, base, kl));

  SOV_ASSIGN_OR_RETURN(uint32_t n_expert, g.GetU32Or(Key("expert_count"), 0));
  if (n_expert > 0) {
    c.enable_moe = true;
    c.num_experts = n_expert;
    SOV_ASSIGN_OR_RETURN(uint32_t used, g.GetU32(Key("expert_used_count")));
    SOV_ASSIGN_OR_RETURN(uint32_t eff, g.GetU32(Key("expert_feed_forward_length")));
    c.top_k_experts = used;
    c.moe_intermediate_size = eff;
  }

  // Sizes that only the tensors carry.
  SOV_ASSIGN_OR_RETURN(const GgufTensor* emb,
                       g.GetTensor(gemma4::GgufName(TensorId::kEmbedTokens, -1)));
  if (emb->ne[0] != c.hidden_size || emb->ne[2] != 1 || emb->ne[3] != 1)
    return Bad(g, absl::StrCat("tensor ", Av(emb->name), " has ne[0] = ", emb->ne[0],
                               ", expected gemma4.embedding_length = ", c.hidden_size));
  c.vocab_size = emb->ne[1];
  if (c.ple_dim > 0) {
    SOV_ASSIGN_OR_RETURN(const GgufTensor* pe,
                         g.GetTensor(gemma4::GgufName(TensorId::kPleEmbed, -1)));
    c.ple_vocab = pe->ne[1];
  }
  if (g.FindTensor("output.weight") != nullptr)
    return Bad(g, "tensor output.weight (an untied LM head) is not supported: Gemma 4 ties it "
                  "to token_embd.weight");

  // K = V: owning full layers without attn_v (llama.cpp then uses K as V).
  const int64_t first_shared = c.num_layers - c.num_kv_shared_layers;
  int with_v = 0, without_v = 0;
  for (int64_t l = 0; l < std::min<int64_t>(first_shared, c.num_layers); ++l) {
    if (swa[l]) continue;
    (g.FindTensor(gemma4::GgufName(TensorId::kVProj, l)) ? with_v : without_v)++;
  }
  if (with_v > 0 && without_v > 0)
    return Bad(g, "some full-attention layers have attn_v.weight and others do not");
  c.attention_k_eq_v = without_v > 0;

  // Dense MLP widths: a per-layer array when KV-shared layers are double-wide.
  SOV_ASSIGN_OR_RETURN(std::vector<uint32_t> ffn,
                       g.GetU32PerLayer(Key("feed_forward_length"), n_layer));
  c.intermediate_size = ffn[0];
  for (int64_t l = first_shared; l < c.num_layers; ++l)
    if (l >= 0 && ffn[l] == 2 * ffn[0]) c.use_double_wide_mlp = true;

  if (g.Has("tokenizer.ggml.bos_token_id")) {
    SOV_ASSIGN_OR_RETURN(uint32_t v, g.GetU32("tokenizer.ggml.bos_token_id"));
    c.bos_token_id = static_cast<int32_t>(v);
  }
  if (g.Has("tokenizer.ggml.eos_token_id")) {
    SOV_ASSIGN_OR_RETURN(uint32_t v, g.GetU32("tokenizer.ggml.eos_token_id"));
    c.eos_token_id = static_cast<int32_t>(v);
  }
  if (g.Has("tokenizer.ggml.padding_token_id")) {
    SOV_ASSIGN_OR_RETURN(uint32_t v, g.GetU32("tokenizer.ggml.padding_token_id"));
    c.pad_token_id = static_cast<int32_t>(v);
  }

  absl::Status fin = c.Finalize();
  if (!fin.ok()) return Bad(g, std::string(fin.message()));
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (c.layers[l].ffn_dim != static_cast<int64_t>(ffn[l]))
      return Bad(g, absl::StrCat("gemma4.feed_forward_length[", l, "] = ", ffn[l],
                                 " does not fit Gemma 4 (", c.layers[l].ffn_dim,
                                 " from layer 0 and the double-wide KV-shared layers)"));
  return c;
}

// Fills Gemma4Weights from the tensors of a validated GGUF.
class GgufWeightsFiller {
 public:
  static absl::Status Fill(const ModelConfig& c, const GgufReader& g, const LoadOptions& opt,
                           Gemma4Weights& w) {
    for (const gemma4::TensorInfo& info : gemma4::TensorTable()) {
      const int64_t n_inst = info.per_layer ? c.num_layers : 1;
      for (int64_t i = 0; i < n_inst; ++i) {
        const int64_t layer = info.per_layer ? i : -1;
        const Presence p = gemma4::PresenceOf(c, info.id, layer);
        if (p == Presence::kIgnored || p == Presence::kAbsent) continue;
        const std::string name = gemma4::GgufName(info.id, layer);
        const std::vector<int64_t> want = gemma4::Shape(c, info.id, layer);
        const GgufTensor* t = g.FindTensor(name);
        if (t == nullptr && info.id == TensorId::kExpertsGateUp) {
          SOV_RETURN_IF_ERROR(SplitGateUp(g, name, want, w));
          continue;
        }
        if (t == nullptr) {
          if (p == Presence::kOptional) {  // layer_output_scale: llama.cpp's default 1
            w.vectors_[name] = {1.0f};
            continue;
          }
          return Bad(g, absl::StrCat("missing tensor ", name, " (", gemma4::OurName(info.id, layer),
                                     ") required by the gemma4 metadata"));
        }
        SOV_RETURN_IF_ERROR(CheckShape(g, *t, want));
        if (want.size() == 1) {
          SOV_ASSIGN_OR_RETURN(std::vector<float> f, ToF32(g, *t));
          if (opt.bf16_weights)
            for (float& x : f) x = Bf16ToFp32(Fp32ToBf16(x));
          w.vectors_[name] = std::move(f);
          continue;
        }
        SOV_ASSIGN_OR_RETURN(DType dt, ReadableType(g, *t));
        const int64_t rows = want.size() == 2 ? want[0] : want[0] * want[1];
        const int64_t cols = want.back();
        std::vector<uint8_t> owned;
        const uint8_t* base = t->data;
        if (opt.bf16_weights && (dt == DType::kF32 || dt == DType::kF16)) {
          owned = ToBf16(base, dt, rows * cols);
          dt = DType::kBF16;
        }
        if (want.size() == 2) {
          Gemma4Weights::Matrix2D m;
          m.owned = std::move(owned);
          m.view = View(m.owned.empty() ? base : m.owned.data(), dt, want[0], cols);
          w.matrices_.insert_or_assign(name, std::move(m));
        } else {
          Gemma4Weights::Stack3D st;
          st.owned = std::move(owned);
          if (!st.owned.empty()) base = st.owned.data();
          for (int64_t e = 0; e < want[0]; ++e)
            st.views.push_back(View(base + static_cast<size_t>(e * want[1]) * RowBytes(dt, cols),
                                    dt, want[1], cols));
          w.stacks_.insert_or_assign(name, std::move(st));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  static kernels::WeightView View(const void* data, DType dt, int64_t rows, int64_t cols) {
    kernels::WeightView v;
    v.data = data;
    v.dtype = dt;
    v.rows = rows;
    v.cols = cols;
    v.row_bytes = RowBytes(dt, cols);
    return v;
  }

  static std::vector<uint8_t> ToBf16(const uint8_t* data, DType dt, int64_t n) {
    std::vector<uint8_t> out(static_cast<size_t>(n) * 2);
    std::vector<float> row(static_cast<size_t>(n));
    DequantizeRow(dt, data, row.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = Fp32ToBf16(row[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
  }

  // ffn_gate_exps [E, I, H] + ffn_up_exps [E, I, H] -> per expert [2I, H]
  // (gate rows first, as in the fused tensor).
  static absl::Status SplitGateUp(const GgufReader& g, const std::string& fused,
                                  const std::vector<int64_t>& want, Gemma4Weights& w) {
    const std::string gate_name = absl::StrReplaceAll(fused, {{"gate_up_exps", "gate_exps"}});
    const std::string up_name = absl::StrReplaceAll(fused, {{"gate_up_exps", "up_exps"}});
    const GgufTensor* gate = g.FindTensor(gate_name);
    const GgufTensor* up = g.FindTensor(up_name);
    if (gate == nullptr || up == nullptr)
      return Bad(g, absl::StrCat("missing tensor ", fused, " (or both ", gate_name, " and ",
                                 up_name, ") required by the gemma4 metadata"));
    const int64_t E = want[0], I = want[1] / 2, H = want[2];
    SOV_RETURN_IF_ERROR(CheckShape(g, *gate, {E, I, H}));
    SOV_RETURN_IF_ERROR(CheckShape(g, *up, {E, I, H}));
    SOV_ASSIGN_OR_RETURN(DType dt, ReadableType(g, *gate));
    SOV_ASSIGN_OR_RETURN(DType dt_up, ReadableType(g, *up));
    if (dt != dt_up)
      return Bad(g, absl::StrCat(gate_name, " (", Av(Name(dt)), ") and ", up_name, " (",
                                 Av(Name(dt_up)), ") must have the same type"));
    const size_t half = static_cast<size_t>(I) * RowBytes(dt, H);
    Gemma4Weights::Stack3D st;
    st.owned.resize(2 * half * static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) {
      std::memcpy(st.owned.data() + (2 * e) * half, gate->data + e * half, half);
      std::memcpy(st.owned.data() + (2 * e + 1) * half, up->data + e * half, half);
    }
    for (int64_t e = 0; e < E; ++e)
      st.views.push_back(View(st.owned.data() + 2 * e * half, dt, 2 * I, H));
    w.stacks_.insert_or_assign(fused, std::move(st));
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Gemma4Model>> LoadGemma4Gguf(const std::string& path,
                                                            const LoadOptions& opt) {
  auto m = std::make_unique<Gemma4Model>();
  m->dir = path;
  SOV_ASSIGN_OR_RETURN(m->gguf, GgufReader::Open(path));
  SOV_ASSIGN_OR_RETURN(m->config, Gemma4ConfigFromGguf(*m->gguf));
  m->weights = std::make_unique<Gemma4Weights>();
  SOV_RETURN_IF_ERROR(GgufWeightsFiller::Fill(m->config, *m->gguf, opt, *m->weights));
  return m;
}

}  // namespace sov
