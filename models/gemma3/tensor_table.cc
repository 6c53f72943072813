#include "models/gemma3/tensor_table.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "models/tensor_table_util.h"
#include "runtime/check.h"

namespace sov::gemma3 {
namespace {

using T = TensorId;

// clang-format off
const std::vector<TensorInfo>& Table() {
  static const auto* t = new std::vector<TensorInfo>{
    // id               layer  GGUF                                  matrix optional
    {T::kEmbedTokens,   false, "token_embd.weight",                  true,  false},
    {T::kFinalNorm,     false, "output_norm.weight",                 false, false},
    {T::kOutput,        false, "output.weight",                      true,  true},
    {T::kAttnNorm,      true,  "blk.{L}.attn_norm.weight",           false, false},
    {T::kQProj,         true,  "blk.{L}.attn_q.weight",              true,  false},
    {T::kKProj,         true,  "blk.{L}.attn_k.weight",              true,  false},
    {T::kVProj,         true,  "blk.{L}.attn_v.weight",              true,  false},
    {T::kOProj,         true,  "blk.{L}.attn_output.weight",         true,  false},
    {T::kQNorm,         true,  "blk.{L}.attn_q_norm.weight",         false, false},
    {T::kKNorm,         true,  "blk.{L}.attn_k_norm.weight",         false, false},
    {T::kPostAttnNorm,  true,  "blk.{L}.post_attention_norm.weight", false, false},
    {T::kPreFfnNorm,    true,  "blk.{L}.ffn_norm.weight",            false, false},
    {T::kGateProj,      true,  "blk.{L}.ffn_gate.weight",            true,  false},
    {T::kUpProj,        true,  "blk.{L}.ffn_up.weight",              true,  false},
    {T::kDownProj,      true,  "blk.{L}.ffn_down.weight",            true,  false},
    {T::kPostFfnNorm,   true,  "blk.{L}.post_ffw_norm.weight",       false, false},
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

std::string GgufName(TensorId id, int64_t layer) {
  const TensorInfo& i = Info(id);
  if (!i.per_layer) return std::string(i.gguf);
  return models::SubstituteLayer(i.gguf, layer);
}

std::vector<int64_t> Shape(const ModelConfig& c, TensorId id) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim;
  switch (id) {
    case T::kEmbedTokens:
    case T::kOutput:
      return {c.vocab_size, H};
    case T::kFinalNorm:
    case T::kAttnNorm:
    case T::kPostAttnNorm:
    case T::kPreFfnNorm:
    case T::kPostFfnNorm:
      return {H};
    case T::kQProj:
      return {c.num_heads * d, H};
    case T::kKProj:
    case T::kVProj:
      return {c.num_kv_heads * d, H};
    case T::kOProj:
      return {H, c.num_heads * d};
    case T::kQNorm:
    case T::kKNorm:
      return {d};
    case T::kGateProj:
    case T::kUpProj:
      return {I, H};
    case T::kDownProj:
      return {H, I};
    case T::kSentinel:
      break;
  }
  SOV_CHECK(false) << "bad tensor id " << static_cast<int>(id);
  return {};
}

}  // namespace sov::gemma3
