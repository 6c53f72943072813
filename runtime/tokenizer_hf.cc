#include "runtime/tokenizer_hf.h"

#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "runtime/check.h"
#include "runtime/json_util.h"
#include "runtime/mapped_file.h"

namespace sov {
namespace {

using nlohmann::json;

absl::Status Err(std::string_view source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", source, what));
}

bool IsByteToken(std::string_view t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.substr(0, 3) == "<0x" && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

}  // namespace

absl::StatusOr<Vocab> VocabFromHfTokenizerJson(std::string_view json_text,
                                               std::string_view source) {
  SOV_ASSIGN_OR_RETURN(json root, ParseJsonStrict(json_text, source));
  if (!root.is_object()) return Err(source, "the top level is not a JSON object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    return Err(source, "key \"model\" is missing or not an object");
  }
  const json& model = *model_it;
  SOV_ASSIGN_OR_RETURN(std::string type, GetStringOr(model, "type", ""));
  if (type != "BPE") {
    return Err(source, absl::StrFormat("model.type is \"%s\"; only \"BPE\" (Gemma) is supported",
                                       type));
  }

  // Pieces: model.vocab, then added tokens (which may lie beyond it).
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object() || vocab_it->empty()) {
    return Err(source, "model.vocab is missing or empty");
  }
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<bool> seen;
  auto place = [&](const std::string& text, int64_t id, TokenType ty,
                   std::string_view where) -> absl::Status {
    if (id < 0 || id > (int64_t{1} << 24)) {
      return Err(source, absl::StrFormat("%s: id %d for \"%s\" is out of range", where, id, text));
    }
    if (static_cast<size_t>(id) >= tokens.size()) {
      tokens.resize(id + 1);
      types.resize(id + 1, TokenType::kUndefined);
      seen.resize(id + 1, false);
    }
    if (seen[id] && tokens[id] != text) {
      return Err(source, absl::StrFormat("%s: id %d is both \"%s\" and \"%s\"", where, id,
                                         tokens[id], text));
    }
    tokens[id] = text;
    types[id] = ty;
    seen[id] = true;
    return absl::OkStatus();
  };
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return Err(source, absl::StrFormat("model.vocab[\"%s\"] is not an integer id", it.key()));
    }
    const TokenType ty = IsByteToken(it.key()) ? TokenType::kByte : TokenType::kNormal;
    SOV_RETURN_IF_ERROR(place(it.key(), it.value().get<int64_t>(), ty, "model.vocab"));
  }
  if (auto added = root.find("added_tokens"); added != root.end() && !added->is_null()) {
    if (!added->is_array()) return Err(source, "added_tokens is not an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json& a = (*added)[i];
      const std::string where = absl::StrFormat("added_tokens[%d]", i);
      if (!a.is_object()) return Err(source, where + " is not an object");
      SOV_ASSIGN_OR_RETURN(int64_t id, GetInt(a, "id"));
      SOV_ASSIGN_OR_RETURN(std::string content, GetString(a, "content"));
      SOV_ASSIGN_OR_RETURN(bool special, GetBoolOr(a, "special", false));
      TokenType ty = special ? TokenType::kControl : TokenType::kUserDefined;
      if (content == "<unk>") ty = TokenType::kUnknown;
      SOV_RETURN_IF_ERROR(place(content, id, ty, where));
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return Err(source, absl::StrFormat("no token has id %d (ids must be 0..%d without gaps)", i,
                                         seen.size() - 1));
    }
  }

  Vocab v;
  v.model = VocabModel::kBpe;
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array() || merges_it->empty()) {
    return Err(source, "model.merges is missing or empty");
  }
  v.merges.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) {
    const json& m = (*merges_it)[i];
    if (m.is_string()) {
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      // Stored "left right" and split at the first space after position 0,
      // so a left side that holds a space cannot be represented.
      const std::string left = m[0].get<std::string>();
      if (left.find(' ', 1) != std::string::npos) {
        return Err(source, absl::StrFormat("model.merges[%d]: left side \"%s\" contains a space",
                                           i, left));
      }
      v.merges.push_back(left + " " + m[1].get<std::string>());
    } else {
      return Err(source, absl::StrFormat(
                             "model.merges[%d] is neither \"left right\" nor [left, right]", i));
    }
  }

  v.tokens = std::move(tokens);
  v.types = std::move(types);
  auto find = [&](std::string_view t) -> TokenId {
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (v.tokens[i] == t) return static_cast<TokenId>(i);
    }
    return -1;
  };
  v.bos_id = find("<bos>");
  v.eos_id = find("<eos>");
  v.unk_id = find("<unk>");
  v.pad_id = find("<pad>");
  v.add_bos = v.bos_id >= 0;
  v.add_space_prefix = false;
  return v;
}

absl::StatusOr<Tokenizer> TokenizerFromHfFile(const std::string& path) {
  SOV_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  SOV_ASSIGN_OR_RETURN(Vocab v, VocabFromHfTokenizerJson(text, path));
  absl::StatusOr<Tokenizer> t = Tokenizer::Create(std::move(v));
  if (!t.ok()) {
    return absl::Status(t.status().code(), absl::StrFormat("%s: %s", path, t.status().message()));
  }
  return t;
}

}  // namespace sov
