// Session: text in, text out, over one TextModel and one Executor.
//
//   auto s = Session::Create(model, {.threads = 2});
//   GenerateOptions o{.max_new_tokens = 64};               // greedy by default
//   auto r = (*s)->Complete("The capital of France is", o, print);
//   // r->text, r->prefill_tps(), r->decode_tps()
//   auto c = (*s)->Chat("Hi!", o, print);                   // one turn; the next
//   c = (*s)->Chat("And then?", o, print);                  // continues the cache
//
// Complete encodes the prompt with exactly one BOS (a "<bos>" the text starts
// with is not doubled) and control tokens parsed, as llama.cpp's CLI does, then
// prefills it from position 0. Generation samples with the Sampler, stops on
// EOS (and, in chat, on the end-of-turn id), and streams text through a UTF-8
// safe StreamDecoder so a callback never sees half a character.
//
// Chat keeps the conversation in the KV cache: each turn appends only its own
// ids — the closing of the previous model turn ("<end_of_turn>\n" /
// "<turn|>\n") and the new user turn from EncodeChat (content encoded as plain
// text, so it cannot inject control tokens) — so the model's earlier replies
// stay in the cache exactly as generated. The stop token and, when a reply
// was cut at max_new_tokens, its last token are fed at the start of the next
// turn.
#ifndef SOV_RUNTIME_SESSION_H_
#define SOV_RUNTIME_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "runtime/executor.h"
#include "runtime/numerics.h"
#include "runtime/sampler.h"
#include "runtime/text_model.h"

namespace sov {

struct SessionOptions {
  int threads = 0;            // 0: oneTBB's default
  int64_t context = 0;        // positions the cache holds; 0: min(model context, 4096)
  // Prefill chunk (longer prompts run in chunks); 0: 512 under the llama.cpp
  // numerics (llama.cpp's default n_ubatch: its kernels' float orders depend on
  // how many rows a batch has, so matching it matters), 64 otherwise.
  int64_t prefill_rows = 0;
  bool fuse = true;
  // Unset: the model's default (GGUF: llama.cpp's arithmetic, runtime/numerics.h).
  std::optional<Numerics> numerics;
};

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  // Defaults to greedy; EOS (and in chat the end-of-turn id) are added to stop_ids.
  SamplerConfig sampler = {.temperature = 0.0f};
  // false: no automatic stop ids (sampler.stop_ids still apply), e.g. --tokens.
  bool use_stop_ids = true;
};

enum class StopReason { kStopToken, kMaxTokens, kContextFull };
const char* StopReasonName(StopReason r);

struct GenerationResult {
  std::string text;             // streamed text, stop token excluded
  std::vector<TokenId> tokens;  // generated ids, stop token excluded
  TokenId stop_token = -1;      // the id that ended generation (kStopToken)
  StopReason stop = StopReason::kMaxTokens;
  int64_t prompt_tokens = 0;  // ids prefilled by this call
  double prefill_seconds = 0.0;
  int64_t decode_steps = 0;     // single-token forward passes
  double decode_seconds = 0.0;  // those passes plus sampling and detokenizing
  double prefill_tps() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
  double decode_tps() const { return decode_seconds > 0 ? decode_steps / decode_seconds : 0; }
};

using TextCallback = std::function<void(std::string_view)>;

class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(const TextModel& model,
                                                         const SessionOptions& options = {});

  // A fresh sequence: `prompt` (non-empty, valid UTF-8) and its continuation.
  absl::StatusOr<GenerationResult> Complete(std::string_view prompt, const GenerateOptions& o,
                                            const TextCallback& on_text = nullptr);
  // A fresh sequence of ids, used as given (no BOS added).
  absl::StatusOr<GenerationResult> CompleteTokens(std::span<const TokenId> prompt,
                                                  const GenerateOptions& o,
                                                  const TextCallback& on_text = nullptr);
  // One chat turn (see the file comment). `system` only applies before the first turn.
  absl::StatusOr<GenerationResult> Chat(std::string_view user, const GenerateOptions& o,
                                        const TextCallback& on_text = nullptr);
  void SetSystemPrompt(std::string system) { system_ = std::move(system); }

  // Starts a new conversation.
  void Reset();

  // Ids currently in the KV cache, in order.
  const std::vector<TokenId>& history() const { return history_; }
  int64_t context() const { return context_; }
  const TextModel& model() const { return *model_; }
  Executor& executor() { return *ex_; }

 private:
  Session() = default;
  // Prefills `fresh` after the history, then samples up to o.max_new_tokens.
  absl::StatusOr<GenerationResult> Run(std::span<const TokenId> fresh, const GenerateOptions& o,
                                       bool chat, const TextCallback& on_text);

  const TextModel* model_ = nullptr;
  graph::Graph graph_;
  std::unique_ptr<Executor> ex_;
  int64_t context_ = 0;
  std::vector<TokenId> history_;  // in the cache
  std::vector<TokenId> unfed_;    // generated, not yet in the cache
  std::string system_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_SESSION_H_
