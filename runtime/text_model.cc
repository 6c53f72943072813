#include "runtime/text_model.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "models/gemma3/builder.h"
#include "models/gemma4/builder.h"
#include "runtime/check.h"
#include "runtime/gemma3_gguf.h"
#include "runtime/gguf_model.h"
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

namespace {

// The vocabulary must cover the embedding table row for row.
absl::Status CheckVocab(const std::string& path, const Tokenizer& tok, int64_t rows) {
  if (tok.size() != rows)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the vocabulary (tokenizer.ggml.tokens) has ", tok.size(),
                     " tokens but token_embd.weight has ", rows,
                     " rows; the vocabulary is truncated or belongs to another model"));
  if (tok.bos_id() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the vocabulary has no BOS token (tokenizer.ggml.bos_token_id)"));
  return absl::OkStatus();
}

// Gemma 4 through runtime/gguf_model (its loader owns the mapping).
absl::StatusOr<std::unique_ptr<TextModel>> LoadGemma4Text(std::unique_ptr<TextModel> m) {
  m->gguf.reset();
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Model> g4, LoadGemma4Gguf(m->path));
  SOV_ASSIGN_OR_RETURN(Tokenizer tok, TokenizerFromGguf(*g4->gguf));
  SOV_RETURN_IF_ERROR(CheckVocab(m->path, tok, g4->config.vocab_size));
  m->tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  m->chat_format = ChatFormat::kGemma4;
  m->name = g4->config.name;
  m->vocab_size = g4->config.vocab_size;
  m->context_length = g4->config.max_position_embeddings;
  const gemma4::ModelConfig c = g4->config;
  m->build_graph = [c](bool last_row_only) {
    return gemma4::BuildGraph(c, {.last_row_only = last_row_only});
  };
  m->weights = std::move(g4->weights);
  m->gguf = std::move(g4->gguf);
  if (g4->store != nullptr)
    return absl::InternalError("LoadGemma4Gguf returned a safetensors store for a GGUF file");
  return m;
}

}  // namespace

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
  if (arch == "gemma4") return LoadGemma4Text(std::move(m));
  if (arch != "gemma3")
    return absl::UnimplementedError(
        absl::StrCat(path, ": architecture \"", Av(arch),
                     "\" is not supported for text generation (known: gemma3, gemma4)"));
  SOV_ASSIGN_OR_RETURN(gemma3::ModelConfig c, Gemma3ConfigFromGguf(g));
  SOV_ASSIGN_OR_RETURN(Tokenizer tok, TokenizerFromGguf(g));
  SOV_RETURN_IF_ERROR(CheckVocab(path, tok, c.vocab_size));
  m->tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  SOV_ASSIGN_OR_RETURN(m->weights, Gemma3WeightsFromGguf(g, c));
  SOV_ASSIGN_OR_RETURN(m->chat_format, ChatFormatForArchitecture(arch));
  m->name = c.name;
  m->vocab_size = c.vocab_size;
  m->context_length = c.context_length;
  m->build_graph = [c](bool last_row_only) {
    return gemma3::BuildGraph(c, {.last_row_only = last_row_only});
  };
  m->build_debug_graph = [c] { return gemma3::BuildGraph(c, {.debug_taps = true}); };
  return m;
}

}  // namespace sov
