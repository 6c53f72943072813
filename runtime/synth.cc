#include "runtime/synth.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/gemma4/tensor_table.h"
#include "runtime/check.h"
#include "runtime/gguf_model.h"
#include "runtime/gguf_reader.h"

namespace sov {

using gemma4::LayerType;
using gemma4::ModelConfig;
using gemma4::Presence;
using gemma4::TensorId;

namespace {

// splitmix64's finalizer: a bijective avalanche mix of 64 bits.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t TensorKey(uint64_t seed, std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ULL;  // FNV-1a
  for (char ch : name) h = (h ^ static_cast<uint8_t>(ch)) * 0x100000001B3ULL;
  return Mix64(Mix64(seed) ^ h);
}

float NormalAt(uint64_t key, uint64_t index) {
  const uint64_t h = Mix64(key + (index + 1) * 0x9E3779B97F4A7C15ULL);
  const int64_t sum = static_cast<int64_t>((h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48));
  // Four uniforms on [0, 65535]: mean 131070, standard deviation 65536/sqrt(3).
  return static_cast<float>(static_cast<double>(sum - 131070) * (1.7320508075688772 / 65536.0));
}

// Miniature configs: every row length a multiple of 256 (Q4_K/Q5_K/Q6_K
// super-blocks), a few MB in any type.
ModelConfig TestTiny(bool moe) {
  ModelConfig c = moe ? gemma4::Gemma4_26B_A4B() : gemma4::Gemma4E2B();
  c.name = moe ? "test-tiny-moe" : "test-tiny";
  c.vocab_size = 512;
  c.hidden_size = 256;
  c.num_heads = 2;
  c.head_dim = 128;
  c.global_head_dim = 256;
  c.sliding_window = 8;
  c.max_position_embeddings = 4096;
  if (moe) {
    c.intermediate_size = 256;
    c.num_layers = 3;
    c.layer_types = {LayerType::kSliding, LayerType::kSliding, LayerType::kFull};
    c.num_kv_heads = 2;
    c.num_global_kv_heads = 1;
    c.num_experts = 4;
    c.top_k_experts = 2;
    c.moe_intermediate_size = 256;
  } else {
    c.intermediate_size = 512;
    c.num_layers = 4;
    c.layer_types = {LayerType::kSliding, LayerType::kFull, LayerType::kSliding, LayerType::kFull};
    c.num_kv_heads = 1;
    c.ple_dim = 256;
    c.ple_vocab = 512;
    c.num_kv_shared_layers = 2;
  }
  return c;
}

// Standard deviation of a matrix's elements (1-D tensors are 1 + noise).
double MatrixScale(const ModelConfig& c, TensorId id, int64_t in_features) {
  switch (id) {
    case TensorId::kEmbedTokens:
    case TensorId::kLmHead:
      return 1.0 / std::sqrt(static_cast<double>(c.hidden_size));
    case TensorId::kPleEmbed:
      return 1.0 / std::sqrt(static_cast<double>(c.ple_dim));
    case TensorId::kRouterProj:
      return 1.0;  // the router input is scaled by H^-1/2 (§2.8): unit-spread logits
    default:
      return 1.0 / std::sqrt(static_cast<double>(in_features));
  }
}

// The value a 1-D tensor's elements scatter around (by 5%). Gemma 4 scores
// are q.k with no 1/sqrt(d) (spec gemma4.md §2.5.4): trained
// q_norm/k_norm weights carry that temperature. With unit weights the
// normalized q and k have entries ~ 1 and the scores std ~ sqrt(d) (16 at
// d = 256, 22.6 at d = 512): near-hard attention, nothing like a trained
// model, that turns rounding differences into different argmaxes.
// d^(-1/4) on each side gives scores with std ~ 1.
double VectorBase(TensorId id, int64_t d) {
  if (id == TensorId::kQNorm || id == TensorId::kKNorm)
    return std::pow(static_cast<double>(d), -0.25);
  return 1.0;
}

}  // namespace

float SynthNormal(uint64_t seed, std::string_view name, uint64_t index) {
  return NormalAt(TensorKey(seed, name), index);
}

absl::StatusOr<ModelConfig> SynthConfig(std::string_view arch) {
  ModelConfig c;
  if (arch == "gemma4-e2b") {
    c = gemma4::Gemma4E2B();
  } else if (arch == "gemma4-e4b") {
    c = gemma4::Gemma4E4B();
  } else if (arch == "gemma4-26b-a4b") {
    c = gemma4::Gemma4_26B_A4B();
  } else if (arch == "gemma4-31b") {
    c = gemma4::Gemma4_31B();
  } else if (arch == "test-tiny" || arch == "test-tiny-moe") {
    c = TestTiny(arch == "test-tiny-moe");
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown --arch '", absl::string_view(arch.data(), arch.size()), "' (expected gemma4-e2b, gemma4-e4b, gemma4-26b-a4b, gemma4-31b)"));
  }
  SOV_RETURN_IF_ERROR(c.Finalize());
  return c;
}

absl::StatusOr<ModelConfig> TruncateLayers(const ModelConfig& c, int64_t layers) {
  if (layers < 1 || layers > c.num_layers)
    return absl::InvalidArgumentError(
        absl::StrCat("--layers must be in [1, ", c.num_layers, "] for ", c.name, ", got ", layers));
  if (layers == c.num_layers) return c;
  ModelConfig t = c;
  t.num_layers = layers;
  t.layer_types.resize(static_cast<size_t>(layers));
  t.layer_types.back() = LayerType::kFull;  // as the published configs end
  // KV sharing in proportion, but a shared layer reads the last non-shared
  // layer of its type: the non-shared prefix must hold a full layer.
  int64_t first_full = layers - 1;
  for (int64_t l = 0; l < layers; ++l)
    if (t.layer_types[static_cast<size_t>(l)] == LayerType::kFull) {
      first_full = l;
      break;
    }
  t.num_kv_shared_layers =
      std::min(c.num_kv_shared_layers * layers / c.num_layers, layers - (first_full + 1));
  if (t.has_layer_overrides) {
    t.layer_head_dim.resize(static_cast<size_t>(layers));
    t.layer_kv_heads.resize(static_cast<size_t>(layers));
  }
  absl::Status s = t.Finalize();
  if (!s.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--layers ", layers, " does not give a valid ", c.name, " model: ", s.message()));
  return t;
}

absl::StatusOr<QuantizeReport> SynthModel(const SynthOptions& opt, const std::string& out) {
  SOV_ASSIGN_OR_RETURN(ModelConfig c, SynthConfig(opt.arch));
  if (opt.layers != 0) {
    SOV_ASSIGN_OR_RETURN(c, TruncateLayers(c, opt.layers));
  }

  std::vector<GeneratedTensor> tensors;
  for (const gemma4::TensorInfo& info : gemma4::TensorTable()) {
    const int64_t n_inst = info.per_layer ? c.num_layers : 1;
    for (int64_t i = 0; i < n_inst; ++i) {
      const int64_t layer = info.per_layer ? i : -1;
      // What a converted checkpoint carries: the same filter as sov quantize.
      const Presence p = gemma4::PresenceOf(c, info.id, layer);
      if (p == Presence::kIgnored || p == Presence::kAbsent) continue;
      const std::vector<int64_t> shape = gemma4::Shape(c, info.id, layer);
      GeneratedTensor g;
      g.name = gemma4::GgufName(info.id, layer);
      g.n_dims = static_cast<int>(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) g.ne[d] = shape[shape.size() - 1 - d];
      // A bf16 checkpoint through convert_hf_to_gguf: vectors f32, matrices bf16.
      g.source = shape.size() == 1 ? DType::kF32 : DType::kBF16;
      const uint64_t key = TensorKey(opt.seed, g.name);
      const int64_t cols = g.ne[0];
      if (shape.size() == 1) {
        const float base = static_cast<float>(VectorBase(info.id, cols));
        g.rows = [key, cols, base](int64_t r0, int64_t n, float* dst) {
          for (int64_t j = 0; j < n * cols; ++j)
            dst[j] = base * (1.0f + 0.05f * NormalAt(key, static_cast<uint64_t>(r0 * cols + j)));
        };
      } else {
        const float scale = static_cast<float>(MatrixScale(c, info.id, cols));
        g.rows = [key, cols, scale](int64_t r0, int64_t n, float* dst) {
          for (int64_t j = 0; j < n * cols; ++j)
            dst[j] = scale * NormalAt(key, static_cast<uint64_t>(r0 * cols + j));
        };
      }
      tensors.push_back(std::move(g));
    }
  }
  bool any_full = false;
  for (const gemma4::LayerConfig& lc : c.layers) any_full |= lc.type == LayerType::kFull;
  if (any_full) {  // the proportional-RoPE mask llama.cpp reads, not a weight
    auto freqs = std::make_shared<const std::vector<float>>(RopeFreqFactors(c));
    GeneratedTensor g;
    g.name = "rope_freqs.weight";
    g.ne = {static_cast<int64_t>(freqs->size()), 1, 1, 1};
    g.rows = [freqs](int64_t, int64_t, float* dst) { std::copy(freqs->begin(), freqs->end(), dst); };
    tensors.push_back(std::move(g));
  }

  auto metadata = [&](GgufWriter& w) -> absl::Status {
    w.SetString("general.architecture", "gemma4");
    w.SetString("general.name", absl::StrCat(c.name, " synthetic seed ", opt.seed));
    SOV_RETURN_IF_ERROR(SetGemma4Metadata(c, w));
    if (opt.vocab_gguf.empty()) return absl::OkStatus();
    SOV_ASSIGN_OR_RETURN(std::unique_ptr<GgufReader> r, GgufReader::Open(opt.vocab_gguf));
    const GgufKV* tokens = r->FindKV("tokenizer.ggml.tokens");
    if (tokens == nullptr || !tokens->is_array() || tokens->elem_type != GgufType::kString)
      return absl::InvalidArgumentError(
          absl::StrCat(opt.vocab_gguf, ": no tokenizer.ggml.tokens string array to copy"));
    if (static_cast<int64_t>(tokens->count) != c.vocab_size)
      return absl::InvalidArgumentError(absl::StrCat(opt.vocab_gguf, " has ", tokens->count,
                                                     " tokens; ", c.name, " needs ", c.vocab_size));
    for (const GgufKV& kv : r->kvs())
      if (kv.key.rfind("tokenizer.ggml.", 0) == 0) w.CopyKV(kv);
    return absl::OkStatus();
  };

  QuantizeOptions q;
  q.ftype = opt.ftype;
  q.threads = opt.threads;
  q.progress = opt.progress;
  q.generated_block_rows = opt.block_rows;
  return WriteGeneratedModel(c, std::move(tensors), metadata, out, q);
}

}  // namespace sov
