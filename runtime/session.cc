#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/chat_template.h"
#include "runtime/check.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The markup that closes a model turn, as chat_template.cc renders it.
std::string_view TurnClose(ChatFormat f) {
  return f == ChatFormat::kGemma3 ? "<end_of_turn>\n" : "<turn|>\n";
}

}  // namespace

const char* StopReasonName(StopReason r) {
  switch (r) {
    case StopReason::kStopToken:
      return "stop token";
    case StopReason::kMaxTokens:
      return "token limit";
    case StopReason::kContextFull:
      return "context full";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const TextModel& model,
                                                         const SessionOptions& options) {
  if (options.context < 0) return absl::InvalidArgumentError("context must be >= 0");
  if (options.prefill_rows < 0) return absl::InvalidArgumentError("prefill_rows must be >= 0");
  std::unique_ptr<Session> s(new Session());
  s->model_ = &model;
  s->context_ =
      options.context > 0 ? options.context : std::min<int64_t>(model.context_length, 4096);
  if (s->context_ > model.context_length)
    return absl::InvalidArgumentError(absl::StrCat(
        "context ", s->context_, " exceeds the model's context length ", model.context_length));
  SOV_ASSIGN_OR_RETURN(s->graph_, model.build_graph(/*last_row_only=*/true));
  ExecutorOptions eo;
  eo.numerics = options.numerics.value_or(model.default_numerics);
  const int64_t rows =
      options.prefill_rows > 0 ? options.prefill_rows : (eo.numerics == Numerics::kGgml ? 512 : 64);
  eo.prefill_rows = std::min(rows, s->context_);
  eo.context = s->context_;
  eo.threads = options.threads;
  eo.fuse = options.fuse;
  SOV_ASSIGN_OR_RETURN(s->ex_, Executor::Create(s->graph_, *model.weights, eo));
  return s;
}

void Session::Reset() {
  ex_->Reset();
  history_.clear();
  unfed_.clear();
}

absl::StatusOr<GenerationResult> Session::Complete(std::string_view prompt,
                                                   const GenerateOptions& o,
                                                   const TextCallback& on_text) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  SOV_RETURN_IF_ERROR(ValidateUtf8(prompt));
  SOV_ASSIGN_OR_RETURN(std::vector<TokenId> ids,
                       model_->tokenizer->Encode(prompt, {.add_bos = true, .parse_special = true}));
  // Vocabularies with add_bos off still need the one BOS Gemma was trained with.
  if (ids.empty() || ids[0] != model_->tokenizer->bos_id())
    ids.insert(ids.begin(), model_->tokenizer->bos_id());
  Reset();
  return Run(ids, o, /*chat=*/false, on_text);
}

absl::StatusOr<GenerationResult> Session::CompleteTokens(std::span<const TokenId> prompt,
                                                         const GenerateOptions& o,
                                                         const TextCallback& on_text) {
  if (prompt.empty()) return absl::InvalidArgumentError("the token list is empty");
  Reset();
  return Run(prompt, o, /*chat=*/false, on_text);
}

absl::StatusOr<GenerationResult> Session::Chat(std::string_view user, const GenerateOptions& o,
                                               const TextCallback& on_text) {
  if (user.empty()) return absl::InvalidArgumentError("the message is empty");
  SOV_RETURN_IF_ERROR(ValidateUtf8(user));
  const Tokenizer& tok = *model_->tokenizer;
  const ChatFormat f = model_->chat_format;
  std::vector<ChatMessage> msgs;
  const bool first = history_.empty();
  if (first && !system_.empty()) msgs.push_back({"system", system_});
  msgs.push_back({"user", std::string(user)});
  SOV_ASSIGN_OR_RETURN(std::vector<TokenId> turn, EncodeChat(f, tok, msgs));
  std::vector<TokenId> fresh;
  if (first) {
    fresh = std::move(turn);  // starts with <bos>
  } else {
    // Close the previous model turn, then the new user turn without its <bos>.
    fresh = unfed_;
    // <eos> ends a reply but is not part of the rendered history.
    if (!fresh.empty() && fresh.back() == tok.eos_id()) fresh.pop_back();
    SOV_ASSIGN_OR_RETURN(std::vector<TokenId> close,
                         tok.Encode(TurnClose(f), {.add_bos = false, .parse_special = true}));
    // A reply that ended on the end-of-turn id already holds the close's first id.
    if (!fresh.empty() && !close.empty() && fresh.back() == close.front())
      close.erase(close.begin());
    fresh.insert(fresh.end(), close.begin(), close.end());
    SOV_CHECK(!turn.empty() && turn.front() == tok.bos_id());
    fresh.insert(fresh.end(), turn.begin() + 1, turn.end());
  }
  return Run(fresh, o, /*chat=*/true, on_text);
}

absl::StatusOr<GenerationResult> Session::Run(std::span<const TokenId> fresh,
                                              const GenerateOptions& o, bool chat,
                                              const TextCallback& on_text) {
  if (o.max_new_tokens < 0) return absl::InvalidArgumentError("-n must be >= 0");
  const Tokenizer& tok = *model_->tokenizer;
  for (size_t i = 0; i < fresh.size(); ++i)
    if (fresh[i] < 0 || fresh[i] >= model_->vocab_size)
      return absl::InvalidArgumentError(absl::StrCat("token ", i, " has id ", fresh[i],
                                                     ", outside the vocabulary [0, ",
                                                     model_->vocab_size, ")"));
  const int64_t total = static_cast<int64_t>(history_.size() + fresh.size());
  if (total > context_)
    return absl::InvalidArgumentError(absl::StrCat(chat ? "the conversation" : "the prompt", " is ",
                                                   total, " tokens long, more than the context of ",
                                                   context_, " tokens (--ctx)"));

  SamplerConfig sc = o.sampler;
  if (o.use_stop_ids && tok.eos_id() >= 0) sc.stop_ids.push_back(tok.eos_id());
  if (o.use_stop_ids && chat) {
    SOV_ASSIGN_OR_RETURN(std::vector<TokenId> stops, ChatStopIds(model_->chat_format, tok));
    sc.stop_ids.insert(sc.stop_ids.end(), stops.begin(), stops.end());
  }
  SOV_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(sc));
  // The penalty window sees the context, as llama.cpp's CLI accepts prompt ids.
  for (TokenId id : history_) sampler.Accept(id);
  for (TokenId id : fresh) sampler.Accept(id);

  GenerationResult r;
  r.prompt_tokens = static_cast<int64_t>(fresh.size());
  const Clock::time_point t0 = Clock::now();
  SOV_ASSIGN_OR_RETURN(Logits logits, ex_->Prefill(fresh));
  r.prefill_seconds = Seconds(t0, Clock::now());
  history_.insert(history_.end(), fresh.begin(), fresh.end());
  unfed_.clear();

  StreamDecoder decoder(&tok);
  auto emit = [&](std::string_view text) {
    if (text.empty()) return;
    r.text.append(text);
    if (on_text) on_text(text);
  };
  const Clock::time_point t1 = Clock::now();
  r.stop = StopReason::kMaxTokens;
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (i > 0) {
      const TokenId prev = r.tokens.back();
      if (static_cast<int64_t>(history_.size()) >= context_) {
        unfed_ = {prev};
        r.stop = StopReason::kContextFull;
        break;
      }
      SOV_ASSIGN_OR_RETURN(logits, ex_->Decode(prev));
      history_.push_back(prev);
      ++r.decode_steps;
    }
    const std::span<const float> last(logits.row(logits.rows - 1),
                                      static_cast<size_t>(logits.cols));
    SOV_ASSIGN_OR_RETURN(TokenId next, sampler.Sample(last));
    if (sampler.IsStop(next)) {
      r.stop = StopReason::kStopToken;
      r.stop_token = next;
      unfed_ = {next};
      break;
    }
    r.tokens.push_back(next);
    SOV_ASSIGN_OR_RETURN(std::string piece, decoder.Push(next));
    emit(piece);
    if (i + 1 == o.max_new_tokens) unfed_ = {next};
  }
  emit(decoder.Flush());
  r.decode_seconds = Seconds(t1, Clock::now());
  return r;
}

}  // namespace sov
