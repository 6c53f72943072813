#include "quant/mix.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace sov {
namespace {

enum class Category {
  kTokenEmbd, kAttnQ, kAttnV, kAttnK, kAttnQkv, kAttnKvB, kAttnOut,
  kFfnUp, kFfnGate, kFfnDown, kOutput, kOther,
};

bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool IsTokenEmbd(std::string_view n) { return n == "token_embd.weight" || n == "per_layer_token_embd.weight"; }

Category Categorize(std::string_view n) {
  if (n == "output.weight") return Category::kOutput;
  if (IsTokenEmbd(n)) return Category::kTokenEmbd;
  if (Contains(n, "attn_qkv.weight")) return Category::kAttnQkv;
  if (Contains(n, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (Contains(n, "attn_v.weight")) return Category::kAttnV;
  if (Contains(n, "attn_k.weight")) return Category::kAttnK;
  if (Contains(n, "attn_q.weight")) return Category::kAttnQ;
  if (Contains(n, "attn_output.weight")) return Category::kAttnOut;
  if (Contains(n, "ffn_up")) return Category::kFfnUp;
  if (Contains(n, "ffn_gate")) return Category::kFfnGate;
  if (Contains(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// attn_qkv and attn_kv_b share the attn_v rule and its counter.
bool IsAttnVLike(Category c) {
  return c == Category::kAttnV || c == Category::kAttnQkv || c == Category::kAttnKvB;
}

// sscanf(name, "blk.%d.", &layer) == 1, as the loader and llama-quant parse it.
std::optional<int> LayerOf(std::string_view n) {
  if (n.substr(0, 4) != "blk.") return std::nullopt;
  size_t i = 4;
  bool neg = false;
  if (i < n.size() && (n[i] == '+' || n[i] == '-')) neg = n[i++] == '-';
  const size_t start = i;
  int64_t v = 0;
  while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i])) && v < (int64_t{1} << 31)) {
    v = v * 10 + (n[i++] - '0');
  }
  if (i == start) return std::nullopt;
  return static_cast<int>(neg ? -v : v);
}

int NDims(const std::array<int64_t, 4>& ne) {
  for (int i = 3; i >= 1; --i) {
    if (ne[i] > 1) return i + 1;
  }
  return 1;
}

bool IsQuantizedType(DType t) { return IsQuantized(t); }

// §12.6: the type a row length the target cannot take falls back to.
absl::StatusOr<DType> Fallback(const MixTensor& t, DType target) {
  const int64_t ncols = t.ne[0];
  if (ncols % BlockSize(target) == 0) return target;
  DType fb;
  switch (target) {
    case DType::kQ4_K: fb = DType::kQ5_0; break;
    case DType::kQ5_K: fb = DType::kQ5_1; break;
    case DType::kQ6_K: fb = DType::kQ8_0; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", t.name, ": row length ", ncols, " is not a multiple of the ", std::string(Name(target)),
          " block size ", BlockSize(target), " and llama.cpp defines no fallback for that type"));
  }
  if (ncols % BlockSize(fb) != 0) fb = DType::kF16;
  return fb;
}

struct Counters {
  int n_attention_wv = 0;
  int i_attention_wv = 0;
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  bool has_tied_embeddings = true;
};

// llama_tensor_get_type_impl restricted to the supported file types.
absl::StatusOr<DType> RuleType(FileType ftype, DType new_type, const MixTensor& t, Category cat,
                               int block_count, int expert_count, const MixOptions& options, Counters& c) {
  const int n_expert = std::max(1, expert_count);
  auto layer_info = [&](int counter) -> absl::StatusOr<int> {
    if (n_expert <= 1) return counter;
    const std::optional<int> layer = LayerOf(t.name);
    if (!layer) return absl::InvalidArgumentError(absl::StrCat("cannot determine the layer of tensor ", t.name));
    if (*layer < 0 || *layer >= block_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad layer ", *layer, " for tensor ", t.name, ": must be in [0, ", block_count, ")"));
    }
    return *layer;
  };
  const bool km = ftype == FileType::kQ4_K_M || ftype == FileType::kQ5_K_M;

  if (cat == Category::kOutput || (c.has_tied_embeddings && cat == Category::kTokenEmbd)) {
    if (options.output_tensor_type) {
      new_type = *options.output_tensor_type;
    } else if (t.ne[0] % BlockSize(new_type) != 0) {
      new_type = DType::kQ8_0;
    } else if (new_type != DType::kQ8_0) {
      new_type = DType::kQ6_K;
    }
  } else if (cat == Category::kTokenEmbd) {
    if (options.token_embedding_type) new_type = *options.token_embedding_type;
  } else if (IsAttnVLike(cat)) {
    if (km && UseMoreBits(c.i_attention_wv, c.n_attention_wv)) new_type = DType::kQ6_K;
    if (expert_count == 8) new_type = DType::kQ8_0;
    ++c.i_attention_wv;
  } else if (cat == Category::kAttnK) {
    if (expert_count == 8) new_type = DType::kQ8_0;
  } else if (cat == Category::kFfnDown) {
    absl::StatusOr<int> layer = layer_info(c.i_ffn_down);
    if (!layer.ok()) return layer.status();
    if (km && UseMoreBits(*layer, block_count)) new_type = DType::kQ6_K;
    ++c.i_ffn_down;
  } else if (cat == Category::kAttnOut) {
    if (expert_count == 8 && ftype == FileType::kQ4_K_M) new_type = DType::kQ5_K;
  } else if (cat == Category::kFfnGate) {
    absl::StatusOr<int> layer = layer_info(c.i_ffn_gate);  // validates the name, as llama.cpp does
    if (!layer.ok()) return layer.status();
    ++c.i_ffn_gate;
  } else if (cat == Category::kFfnUp) {
    absl::StatusOr<int> layer = layer_info(c.i_ffn_up);
    if (!layer.ok()) return layer.status();
    ++c.i_ffn_up;
  }
  return new_type;
}

}  // namespace

DType DefaultType(FileType ftype) {
  switch (ftype) {
    case FileType::kF32: return DType::kF32;
    case FileType::kF16: return DType::kF16;
    case FileType::kQ8_0: return DType::kQ8_0;
    case FileType::kQ4_K_M: return DType::kQ4_K;
    case FileType::kQ5_K_M: return DType::kQ5_K;
    case FileType::kBF16: return DType::kBF16;
  }
  return DType::kF32;
}

std::optional<FileType> ParseFileType(std::string_view name) {
  std::string lower;
  for (char ch : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (lower == "f32") return FileType::kF32;
  if (lower == "f16") return FileType::kF16;
  if (lower == "bf16") return FileType::kBF16;
  if (lower == "q8_0") return FileType::kQ8_0;
  if (lower == "q4_k_m") return FileType::kQ4_K_M;
  if (lower == "q5_k_m") return FileType::kQ5_K_M;
  return std::nullopt;
}

bool UseMoreBits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

bool TensorAllowsQuantization(const MixTensor& t, const MixOptions& options) {
  if (NDims(t.ne) < 2) return false;
  const std::string_view n = t.name;
  if (n.size() < 6 || n.substr(n.size() - 6) != "weight") return false;
  if (options.leave_output_tensor && n == "output.weight") return false;
  static constexpr std::string_view kNever[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
      "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
      "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
      "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
      "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
      "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};
  for (std::string_view part : kNever) {
    if (Contains(n, part)) return false;
  }
  // The architecture's position / token-type embeddings (BERT-like models).
  return n != "position_embd.weight" && n != "token_types.weight";
}

std::vector<size_t> ProcessingOrder(const std::vector<std::string>& names) {
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<int> layer(names.size());
  for (size_t i = 0; i < names.size(); ++i) layer[i] = LayerOf(names[i]).value_or(-1);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layer[a] != layer[b]) return layer[a] < layer[b];
    return names[a].compare(names[b]) < 0;
  });
  return order;
}

absl::StatusOr<std::vector<DType>> ChooseTensorTypes(FileType ftype, const std::vector<MixTensor>& tensors,
                                                     int block_count, int expert_count,
                                                     const MixOptions& options) {
  if (block_count <= 0) return absl::InvalidArgumentError(absl::StrCat("block_count ", block_count, " must be positive"));
  if (expert_count < 0) return absl::InvalidArgumentError(absl::StrCat("expert_count ", expert_count, " is negative"));
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const MixTensor& t : tensors) {
    if (t.ne[0] <= 0) return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, " has ne[0] = ", t.ne[0]));
    names.push_back(t.name);
  }
  Counters c;
  for (const MixTensor& t : tensors) {
    const Category cat = Categorize(t.name);
    if (IsAttnVLike(cat)) ++c.n_attention_wv;
    if (cat == Category::kOutput) c.has_tied_embeddings = false;
  }
  const DType def = DefaultType(ftype);
  std::vector<DType> out(tensors.size());
  for (size_t idx : ProcessingOrder(names)) {
    const MixTensor& t = tensors[idx];
    if (!TensorAllowsQuantization(t, options)) {
      out[idx] = t.source;
      continue;
    }
    const Category cat = Categorize(t.name);
    if (options.token_embedding_type && cat == Category::kTokenEmbd) {
      out[idx] = *options.token_embedding_type;
      continue;
    }
    if (options.output_tensor_type && cat == Category::kOutput) {
      out[idx] = *options.output_tensor_type;
      continue;
    }
    DType type = def;
    if (IsQuantizedType(def)) {
      if (!options.pure) {
        absl::StatusOr<DType> r = RuleType(ftype, type, t, cat, block_count, expert_count, options, c);
        if (!r.ok()) return r.status();
        type = *r;
      }
      absl::StatusOr<DType> fb = Fallback(t, type);
      if (!fb.ok()) return fb.status();
      type = *fb;
    }
    out[idx] = type;
  }
  return out;
}

}  // namespace sov
