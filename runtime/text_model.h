// A text model ready to run, whatever its architecture: the compiled-once
// graph inputs (a Graph and a WeightProvider), the tokenizer, the chat format
// and the sizes the session needs. Architectures plug in here by config +
// tensor table + graph builder; the executor and the session are shared.
//
//   SOV_ASSIGN_OR_RETURN(std::unique_ptr<TextModel> m, LoadTextModel("model.gguf"));
//   SOV_ASSIGN_OR_RETURN(graph::Graph g, m->BuildGraph(/*last_row_only=*/true));
//
// Today: GGUF files with `general.architecture` "gemma3" (runtime/gemma3_gguf)
// or "gemma4" (runtime/gguf_model, Gemma 4 chat format). Errors name the
// file: not a GGUF, unknown architecture, missing or truncated vocabulary
// (fewer tokens than embedding rows), missing/ill-shaped tensors.
#ifndef SOV_RUNTIME_TEXT_MODEL_H_
#define SOV_RUNTIME_TEXT_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "graph/weight_provider.h"
#include "runtime/chat_template.h"
#include "runtime/gguf_reader.h"
#include "runtime/numerics.h"
#include "runtime/tokenizer.h"

namespace sov {

struct TextModel {
  std::string path;
  std::string architecture;  // general.architecture
  std::string name;          // general.name (informational)
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // longest sequence the model was trained for
  ChatFormat chat_format = ChatFormat::kGemma3;
  // GGUF files run with llama.cpp's arithmetic unless asked otherwise.
  Numerics default_numerics = Numerics::kGgml;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<graph::WeightProvider> weights;
  // Builds the forward graph (every row's logits, or only the last row's).
  std::function<absl::StatusOr<graph::Graph>(bool last_row_only)> build_graph;
  // Every row's logits plus per-op taps under llama.cpp's tensor names
  // (`sov logits --taps`); null when the architecture has none.
  std::function<absl::StatusOr<graph::Graph>()> build_debug_graph;
  // Keeps the mapping (and whatever the weights point into) alive; destroyed last.
  std::unique_ptr<GgufReader> gguf;

  ~TextModel();
};

// True when `path` is a regular file that starts with the GGUF magic.
bool LooksLikeGguf(const std::string& path);

absl::StatusOr<std::unique_ptr<TextModel>> LoadTextModel(const std::string& path);

}  // namespace sov

#endif  // SOV_RUNTIME_TEXT_MODEL_H_
