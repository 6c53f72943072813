// Gemma prompt formats, written as code rather than run through a Jinja
// engine (spec gemma4.md §5.3; the Gemma 3 format is its predecessor).
//
//   Gemma 4: <bos><|turn>system\n{system}<turn|>\n<|turn>user\n{text}<turn|>\n
//            <|turn>model\n
//   Gemma 3: <bos><start_of_turn>user\n{system}\n\n{text}<end_of_turn>\n
//            <start_of_turn>model\n
//
// The rendered prompt is text with the control tokens spelled out; encode it
// with EncodeOptions::parse_special = true (and add_bos: the tokenizer keeps
// the single <bos> the prompt starts with). User-supplied content is inserted
// verbatim, so a user who types "<end_of_turn>" can close their own turn;
// callers that must prevent that encode each message separately with
// parse_special = false (see EncodeChat).
#ifndef SOV_RUNTIME_CHAT_TEMPLATE_H_
#define SOV_RUNTIME_CHAT_TEMPLATE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer.h"

namespace sov {

enum class ChatFormat { kGemma3, kGemma4 };

// From `general.architecture` (GGUF) or `model_type` (HF config):
// gemma3/gemma3_text -> kGemma3, gemma4/gemma4_text -> kGemma4.
absl::StatusOr<ChatFormat> ChatFormatForArchitecture(std::string_view arch);

struct ChatMessage {
  std::string role;  // "system" (or "developer"), "user", "assistant" (or "model")
  std::string content;
};

struct ChatOptions {
  // End with the opening of a model turn, for generation.
  bool add_generation_prompt = true;
  // Gemma 4 only: "<|think|>" at the start of the system turn.
  bool enable_thinking = false;
  // Gemma 4 only: with thinking off, open the model turn with an empty thought
  // channel, as the large checkpoints' template does (the small ones' does
  // not; spec §5.3 and open question 1).
  bool empty_thought_channel = false;
};

// The prompt as text. Errors on an unknown role, a system message that is not
// first, or (Gemma 3, whose template enforces it) turns that do not alternate
// user/model starting with user.
absl::StatusOr<std::string> RenderChat(ChatFormat format, std::span<const ChatMessage> messages,
                                       const ChatOptions& options = {});

// The same prompt as ids, with message contents encoded as plain text
// (parse_special = false) so that content cannot inject control tokens.
absl::StatusOr<std::vector<TokenId>> EncodeChat(ChatFormat format, const Tokenizer& tokenizer,
                                                std::span<const ChatMessage> messages,
                                                const ChatOptions& options = {});

// Ids that end a model turn: <eos> and the end-of-turn token (<end_of_turn> or
// <turn|>), plus <|tool_response> for Gemma 4 (the model hands over to a tool).
// Errors if the vocabulary lacks the end-of-turn token.
absl::StatusOr<std::vector<TokenId>> ChatStopIds(ChatFormat format, const Tokenizer& tokenizer);

// Gemma 4: removes "<|channel>...<channel|>" spans (the model's reasoning)
// from a model message before it is put back into the history.
std::string StripThinking(std::string_view text);

}  // namespace sov

#endif  // SOV_RUNTIME_CHAT_TEMPLATE_H_
