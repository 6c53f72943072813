#include "runtime/chat_template.h"

#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "runtime/check.h"

namespace sov {
namespace {

// A piece of the prompt: template markup (control tokens parsed) or message
// content (encoded as plain text by EncodeChat).
struct Segment {
  std::string text;
  bool markup;
};

// Jinja's `trim` on the whitespace a chat message realistically carries.
std::string_view Trim(std::string_view s) {
  constexpr std::string_view kWs = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(kWs);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(kWs);
  return s.substr(b, e - b + 1);
}

enum class Role { kSystem, kUser, kModel };

absl::StatusOr<Role> ParseRole(std::string_view role, size_t index) {
  if (role == "system" || role == "developer") return Role::kSystem;
  if (role == "user") return Role::kUser;
  if (role == "assistant" || role == "model") return Role::kModel;
  return absl::InvalidArgumentError(absl::StrFormat(
      "message %d: role \"%s\" is not supported (system, developer, user, assistant, model)",
      index, role));
}

absl::StatusOr<std::vector<Segment>> Gemma3Segments(std::span<const ChatMessage> messages,
                                                    const ChatOptions& options) {
  std::vector<Segment> out = {{"<bos>", true}};
  size_t first = 0;
  std::string system_prefix;
  if (!messages.empty()) {
    SOV_ASSIGN_OR_RETURN(Role r, ParseRole(messages[0].role, 0));
    if (r == Role::kSystem) {
      // Gemma 3 has no system turn: the template puts the system text,
      // untrimmed, in front of the first user message.
      system_prefix = messages[0].content + "\n\n";
      first = 1;
    }
  }
  for (size_t i = first; i < messages.size(); ++i) {
    SOV_ASSIGN_OR_RETURN(Role r, ParseRole(messages[i].role, i));
    if (r == Role::kSystem) {
      return absl::InvalidArgumentError(
          absl::StrFormat("message %d: a system message must come first", i));
    }
    const bool want_user = (i - first) % 2 == 0;
    if ((r == Role::kUser) != want_user) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "message %d: Gemma 3 turns must alternate user/model starting with user, got \"%s\"",
          i, messages[i].role));
    }
    out.push_back({r == Role::kUser ? "<start_of_turn>user\n" : "<start_of_turn>model\n", true});
    if (i == first && !system_prefix.empty()) out.push_back({system_prefix, false});
    out.push_back({std::string(Trim(messages[i].content)), false});
    out.push_back({"<end_of_turn>\n", true});
  }
  if (options.add_generation_prompt) out.push_back({"<start_of_turn>model\n", true});
  return out;
}

absl::StatusOr<std::vector<Segment>> Gemma4Segments(std::span<const ChatMessage> messages,
                                                    const ChatOptions& options) {
  std::vector<Segment> out = {{"<bos>", true}};
  size_t first = 0;
  bool has_system = false;
  if (!messages.empty()) {
    SOV_ASSIGN_OR_RETURN(Role r, ParseRole(messages[0].role, 0));
    has_system = r == Role::kSystem;
  }
  if (has_system || options.enable_thinking) {
    out.push_back({"<|turn>system\n", true});
    if (options.enable_thinking) out.push_back({"<|think|>", true});
    if (has_system) out.push_back({std::string(Trim(messages[0].content)), false});
    out.push_back({"<turn|>\n", true});
    first = has_system ? 1 : 0;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    SOV_ASSIGN_OR_RETURN(Role r, ParseRole(messages[i].role, i));
    if (r == Role::kSystem) {
      return absl::InvalidArgumentError(
          absl::StrFormat("message %d: a system message must come first", i));
    }
    out.push_back({r == Role::kUser ? "<|turn>user\n" : "<|turn>model\n", true});
    // Earlier reasoning is not shown to the model again.
    const std::string content =
        r == Role::kModel ? StripThinking(messages[i].content) : messages[i].content;
    out.push_back({std::string(Trim(content)), false});
    out.push_back({"<turn|>\n", true});
  }
  if (options.add_generation_prompt) {
    out.push_back({"<|turn>model\n", true});
    if (!options.enable_thinking && options.empty_thought_channel) {
      out.push_back({"<|channel>thought\n<channel|>", true});
    }
  }
  return out;
}

absl::StatusOr<std::vector<Segment>> Segments(ChatFormat format,
                                              std::span<const ChatMessage> messages,
                                              const ChatOptions& options) {
  switch (format) {
    case ChatFormat::kGemma3:
      return Gemma3Segments(messages, options);
    case ChatFormat::kGemma4:
      return Gemma4Segments(messages, options);
  }
  return absl::InvalidArgumentError("unknown chat format");
}

}  // namespace

absl::StatusOr<ChatFormat> ChatFormatForArchitecture(std::string_view arch) {
  if (arch == "gemma3" || arch == "gemma3_text") return ChatFormat::kGemma3;
  if (arch == "gemma4" || arch == "gemma4_text") return ChatFormat::kGemma4;
  return absl::InvalidArgumentError(absl::StrFormat(
      "no chat format for architecture \"%s\" (known: gemma3, gemma4)", arch));
}

std::string StripThinking(std::string_view text) {
  constexpr std::string_view kOpen = "<|channel>", kClose = "<channel|>";
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    const size_t close = text.find(kClose, open + kOpen.size());
    out.append(text.substr(pos, open - pos));
    // An unterminated channel (generation cut short) runs to the end.
    if (close == std::string_view::npos) return out;
    pos = close + kClose.size();
  }
  out.append(text.substr(pos));
  return out;
}

absl::StatusOr<std::string> RenderChat(ChatFormat format, std::span<const ChatMessage> messages,
                                       const ChatOptions& options) {
  SOV_ASSIGN_OR_RETURN(std::vector<Segment> segs, Segments(format, messages, options));
  std::string out;
  for (const Segment& s : segs) out += s.text;
  return out;
}

absl::StatusOr<std::vector<TokenId>> EncodeChat(ChatFormat format, const Tokenizer& tokenizer,
                                                std::span<const ChatMessage> messages,
                                                const ChatOptions& options) {
  SOV_ASSIGN_OR_RETURN(std::vector<Segment> segs, Segments(format, messages, options));
  // Encoding segment by segment gives the ids of encoding the whole prompt:
  // every content segment is bounded by control tokens or "\n" runs, which
  // the tokenizer cuts out before merging anyway.
  std::vector<TokenId> ids;
  for (const Segment& s : segs) {
    SOV_ASSIGN_OR_RETURN(std::vector<TokenId> part,
                         tokenizer.Encode(s.text, {.add_bos = false, .parse_special = s.markup}));
    ids.insert(ids.end(), part.begin(), part.end());
  }
  return ids;
}

absl::StatusOr<std::vector<TokenId>> ChatStopIds(ChatFormat format, const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  if (tokenizer.eos_id() >= 0) ids.push_back(tokenizer.eos_id());
  const std::string_view end_of_turn = format == ChatFormat::kGemma3 ? "<end_of_turn>" : "<turn|>";
  std::optional<TokenId> eot = tokenizer.Find(end_of_turn);
  if (!eot) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the vocabulary has no \"%s\" token; is the chat format right for this model?",
        end_of_turn));
  }
  ids.push_back(*eot);
  if (format == ChatFormat::kGemma4) {
    if (std::optional<TokenId> tr = tokenizer.Find("<|tool_response>")) ids.push_back(*tr);
  }
  return ids;
}

}  // namespace sov
