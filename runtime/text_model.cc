#include "runtime/text_model.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "models/gemma3/builder.h"
#include "runtime/check.h"
#include "runtime/gemma3_gguf.h"
#include "runtime/str_util.h"
#include "runtime/tokenizer_gguf.h"

namespace sov {

TextModel::~TextModel() {
  // Members die in reverse order, so `gguf` would go first; the weights and
  // tokenizer may point into the mapping, so drop them explicitly before it.
  build_graph = nullptr;
  weights.reset();
  tokenizer.reset();
  gguf.reset();
}

bool LooksLikeGguf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

absl::StatusOr<std::unique_ptr<TextModel>> LoadTextModel(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat("model file ", path, " does not exist"));
  if (!LooksLikeGguf(path))
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     " is not a GGUF file (text generation reads GGUF models; "
                     "for a Hugging Face directory use --tokens)"));
  auto m = std::make_unique<TextModel>();
  m->path = path;
  SOV_ASSIGN_OR_RETURN(m->gguf, GgufReader::Open(path));
  const GgufReader& g = *m->gguf;
  SOV_ASSIGN_OR_RETURN(std::string_view arch, g.GetString("general.architecture"));
  m->architecture = std::string(arch);
  if (arch != "gemma3")
    return absl::UnimplementedError(
        absl::StrCat(path, ": architecture \"", Av(arch),
                     "\" is not supported for text generation (known: gemma3)"));

  SOV_ASSIGN_OR_RETURN(gemma3::ModelConfig c, Gemma3ConfigFromGguf(g));
  SOV_ASSIGN_OR_RETURN(Tokenizer tok, TokenizerFromGguf(g));
  if (tok.size() != c.vocab_size)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the vocabulary (tokenizer.ggml.tokens) has ", tok.size(),
                     " tokens but token_embd.weight has ", c.vocab_size,
                     " rows; the vocabulary is truncated or belongs to another model"));
  if (tok.bos_id() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the vocabulary has no BOS token (tokenizer.ggml.bos_token_id)"));
  m->tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  SOV_ASSIGN_OR_RETURN(m->weights, Gemma3WeightsFromGguf(g, c));
  SOV_ASSIGN_OR_RETURN(m->chat_format, ChatFormatForArchitecture(arch));
  m->name = c.name;
  m->vocab_size = c.vocab_size;
  m->context_length = c.context_length;
  m->build_graph = [c](bool last_row_only) {
    return gemma3::BuildGraph(c, {.last_row_only = last_row_only});
  };
  return m;
}

}  // namespace sov
