#include "runtime/tokenizer_gguf.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "runtime/check.h"

namespace sov {
namespace {

// An optional u32 special id; llama.cpp treats absent as "none".
absl::StatusOr<TokenId> OptionalId(const GgufReader& gguf, const std::string& key) {
  if (!gguf.Has(key)) return -1;
  SOV_ASSIGN_OR_RETURN(uint32_t v, gguf.GetU32(key));
  if (v > static_cast<uint32_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s = %u is not a token id", key, v));
  }
  return static_cast<TokenId>(v);
}

}  // namespace

absl::StatusOr<Vocab> VocabFromGguf(const GgufReader& gguf) {
  Vocab v;
  if (!gguf.Has("tokenizer.ggml.model")) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tokenizer.ggml.model is missing", gguf.name()));
  }
  SOV_ASSIGN_OR_RETURN(std::string_view model, gguf.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    v.model = VocabModel::kSpm;
  } else if (model == "gemma4") {
    v.model = VocabModel::kBpe;
  } else {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: tokenizer.ggml.model \"%s\" is not supported (only \"llama\" and \"gemma4\")",
        gguf.name(), model));
  }

  if (!gguf.Has("tokenizer.ggml.tokens")) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tokenizer.ggml.tokens is missing", gguf.name()));
  }
  SOV_ASSIGN_OR_RETURN(auto tokens, gguf.GetStringArray("tokenizer.ggml.tokens"));
  v.tokens.assign(tokens.begin(), tokens.end());
  if (gguf.Has("tokenizer.ggml.scores")) {
    SOV_ASSIGN_OR_RETURN(v.scores, gguf.GetF32Array("tokenizer.ggml.scores"));
  }
  if (gguf.Has("tokenizer.ggml.token_type")) {
    SOV_ASSIGN_OR_RETURN(std::vector<int32_t> types, gguf.GetI32Array("tokenizer.ggml.token_type"));
    v.types.reserve(types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > static_cast<int32_t>(TokenType::kByte)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: tokenizer.ggml.token_type[%d] = %d is not a token type (0..6)", gguf.name(), i,
            types[i]));
      }
      v.types.push_back(static_cast<TokenType>(types[i]));
    }
  }
  if (gguf.Has("tokenizer.ggml.merges")) {
    SOV_ASSIGN_OR_RETURN(auto merges, gguf.GetStringArray("tokenizer.ggml.merges"));
    v.merges.assign(merges.begin(), merges.end());
  }
  SOV_ASSIGN_OR_RETURN(v.bos_id, OptionalId(gguf, "tokenizer.ggml.bos_token_id"));
  SOV_ASSIGN_OR_RETURN(v.eos_id, OptionalId(gguf, "tokenizer.ggml.eos_token_id"));
  SOV_ASSIGN_OR_RETURN(v.unk_id, OptionalId(gguf, "tokenizer.ggml.unknown_token_id"));
  SOV_ASSIGN_OR_RETURN(v.pad_id, OptionalId(gguf, "tokenizer.ggml.padding_token_id"));
  // llama.cpp's defaults: SPM adds BOS and a dummy prefix unless told not to.
  SOV_ASSIGN_OR_RETURN(v.add_bos, gguf.GetBoolOr("tokenizer.ggml.add_bos_token", true));
  SOV_ASSIGN_OR_RETURN(v.add_space_prefix,
                       gguf.GetBoolOr("tokenizer.ggml.add_space_prefix",
                                      v.model == VocabModel::kSpm));
  if (v.model == VocabModel::kBpe) {
    v.add_bos = true;           // forced for the gemma4 pre-tokenizer (gguf.md §10.1)
    v.add_space_prefix = false;
  }

  return v;
}

absl::StatusOr<Tokenizer> TokenizerFromGguf(const GgufReader& gguf) {
  SOV_ASSIGN_OR_RETURN(Vocab v, VocabFromGguf(gguf));
  absl::StatusOr<Tokenizer> t = Tokenizer::Create(std::move(v));
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrFormat("%s: %s", gguf.name(), t.status().message()));
  }
  return t;
}

}  // namespace sov
