#include "runtime/tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/str_format.h"
#include "runtime/check.h"

namespace sov {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
// Separates the two sides of a merge in the rank table's keys. 0xFF never
// occurs in valid UTF-8, so no pair of token texts can produce the same key.
constexpr char kMergeSep = '\xFF';

std::string EscapeSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char c : s) {
    if (c == ' ') {
      out += kEscapedSpace;
    } else {
      out += c;
    }
  }
  return out;
}

std::string UnescapeSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, kEscapedSpace.size(), kEscapedSpace) == 0) {
      out += ' ';
      i += kEscapedSpace.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string MergeKey(std::string_view left, std::string_view right) {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left);
  key += kMergeSep;
  key.append(right);
  return key;
}

absl::Status CheckSpecialId(TokenId id, size_t n, std::string_view key) {
  if (id < -1 || id >= static_cast<TokenId>(n)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tokenizer.ggml.%s = %d is outside the vocabulary of %d tokens", key, id, n));
  }
  return absl::OkStatus();
}

// A symbol of the merge loop: a byte range of the text being merged, linked to
// its neighbours. A symbol merged into its left neighbour gets n = 0.
struct Symbol {
  int prev;
  int next;
  size_t begin;
  size_t n;
};

// A candidate merge of symbols[left] and symbols[right]. `size` is the byte
// length the two had when queued: if either changed since, the entry is stale.
struct Bigram {
  int left;
  int right;
  float score;  // SPM: higher first. BPE: the negated rank, so the same order.
  size_t size;
};

struct BigramOrder {
  // std::priority_queue pops the largest: highest score, then leftmost.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

using BigramQueue = std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder>;

// Splits `text` into one symbol per UTF-8 character (text is valid UTF-8).
std::vector<Symbol> SplitChars(std::string_view text) {
  std::vector<Symbol> symbols;
  size_t offs = 0;
  int index = 0;
  while (offs < text.size()) {
    int len = Utf8CharLength(text.substr(offs));
    SOV_CHECK(len > 0) << "text was validated as UTF-8";
    symbols.push_back(Symbol{index - 1, offs + len == text.size() ? -1 : index + 1, offs,
                             static_cast<size_t>(len)});
    offs += len;
    ++index;
  }
  return symbols;
}

// Runs the merge loop; `score_of(text)` gives a candidate's score or nullopt
// when the two symbols may not merge.
template <typename ScoreFn>
void MergeSymbols(std::string_view text, std::vector<Symbol>& symbols, ScoreFn score_of) {
  BigramQueue queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = symbols[left].n + symbols[right].n;
    std::optional<float> score =
        score_of(text.substr(symbols[left].begin, symbols[left].n),
                 text.substr(symbols[right].begin, symbols[right].n));
    if (!score) return;
    queue.push(Bigram{left, right, *score, size});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    // Stale when either side was merged away or grew since it was queued
    // (a symbol only grows by absorbing its right neighbour).
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
}

}  // namespace

int Utf8CharLength(std::string_view s) {
  if (s.empty()) return -1;
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return 1;
  int need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 (overlong) or F5..FF
  }
  for (int i = 1; i < need; ++i) {
    if (i >= static_cast<int>(s.size())) return -1;
    const auto b = static_cast<uint8_t>(s[i]);
    const uint8_t min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
  }
  return need;
}

absl::Status ValidateUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const int len = Utf8CharLength(s.substr(i));
    if (len > 0) {
      i += len;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "text is not valid UTF-8: %s sequence starting with byte 0x%02X at offset %d",
        len < 0 ? "truncated" : "invalid", static_cast<uint8_t>(s[i]), i));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tokenizer> Tokenizer::Create(Vocab vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens has more than 2^31-1 tokens");
  }
  const char* model_name = vocab.model == VocabModel::kSpm ? "llama" : "gemma4";
  if (vocab.model == VocabModel::kSpm) {
    if (vocab.scores.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tokenizer.ggml.scores is missing; tokenizer.ggml.model \"%s\" merges by score",
          model_name));
    }
  } else if (vocab.merges.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tokenizer.ggml.merges is missing or empty; tokenizer.ggml.model \"%s\" needs it",
        model_name));
  }
  if (vocab.scores.empty()) vocab.scores.assign(n, 0.0f);
  if (vocab.scores.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tokenizer.ggml.scores has %d entries for %d tokens",
                        vocab.scores.size(), n));
  }
  if (vocab.types.empty()) vocab.types.assign(n, TokenType::kNormal);
  if (vocab.types.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tokenizer.ggml.token_type has %d entries for %d tokens", vocab.types.size(), n));
  }
  SOV_RETURN_IF_ERROR(CheckSpecialId(vocab.bos_id, n, "bos_token_id"));
  SOV_RETURN_IF_ERROR(CheckSpecialId(vocab.eos_id, n, "eos_token_id"));
  SOV_RETURN_IF_ERROR(CheckSpecialId(vocab.unk_id, n, "unknown_token_id"));
  SOV_RETURN_IF_ERROR(CheckSpecialId(vocab.pad_id, n, "padding_token_id"));
  if (vocab.add_bos && vocab.bos_id < 0) {
    return absl::InvalidArgumentError(
        "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is not set");
  }

  Tokenizer t;
  t.token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto type = static_cast<int32_t>(vocab.types[i]);
    if (type < 0 || type > static_cast<int32_t>(TokenType::kByte)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tokenizer.ggml.token_type[%d] = %d is not a token type (0..6)", i,
                          type));
    }
    auto [it, inserted] = t.token_to_id_.emplace(vocab.tokens[i], static_cast<int32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tokenizer.ggml.tokens: token \"%s\" appears at ids %d and %d",
                          vocab.tokens[i], it->second, i));
    }
    // Merging may only produce ordinary pieces. A control token spelled out
    // in text ("<start_of_turn>" with parse_special off) must stay plain
    // characters, and a typed "<0x41>" must not become the byte 'A' — the
    // rule SentencePiece applies too.
    switch (vocab.types[i]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kByte:
      case TokenType::kUnused:
        break;
      default:
        t.piece_to_id_.emplace(vocab.tokens[i], static_cast<int32_t>(i));
    }
  }

  // Byte fallback: <0xXX>, else (as llama.cpp) a token made of that one byte.
  for (int b = 0; b < 256; ++b) {
    t.byte_ids_[b] = -1;
    auto it = t.token_to_id_.find(absl::StrFormat("<0x%02X>", b));
    if (it != t.token_to_id_.end()) {
      t.byte_ids_[b] = it->second;
    } else if (b < 0x80) {
      auto one = t.piece_to_id_.find(std::string(1, static_cast<char>(b)));
      if (one != t.piece_to_id_.end()) t.byte_ids_[b] = one->second;
    }
  }

  if (vocab.model == VocabModel::kBpe) {
    t.merge_rank_.reserve(vocab.merges.size());
    for (size_t r = 0; r < vocab.merges.size(); ++r) {
      const std::string& m = vocab.merges[r];
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "tokenizer.ggml.merges[%d] = \"%s\" is not of the form \"left right\"", r, m));
      }
      // A later duplicate keeps the first (lowest) rank, as a map insert does.
      t.merge_rank_.emplace(MergeKey(std::string_view(m).substr(0, sp),
                                     std::string_view(m).substr(sp + 1)),
                            static_cast<int32_t>(r));
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType type = vocab.types[i];
    if ((type == TokenType::kControl || type == TokenType::kUserDefined ||
         type == TokenType::kUnknown) &&
        !vocab.tokens[i].empty()) {
      t.special_ids_.push_back(static_cast<TokenId>(i));
    }
  }
  // Longest first, so "\n\n" wins over "\n"; ties by id keep it deterministic.
  std::stable_sort(t.special_ids_.begin(), t.special_ids_.end(), [&](TokenId a, TokenId b) {
    return vocab.tokens[a].size() > vocab.tokens[b].size();
  });
  t.special_trie_.emplace_back();
  for (TokenId id : t.special_ids_) {
    int32_t node = 0;
    for (char ch : vocab.tokens[id]) {
      int32_t child = -1;
      for (const auto& [c, n] : t.special_trie_[node].next) {
        if (c == ch) child = n;
      }
      if (child < 0) {
        child = static_cast<int32_t>(t.special_trie_.size());
        t.special_trie_[node].next.emplace_back(ch, child);
        t.special_trie_.emplace_back();
      }
      node = child;
    }
    t.special_trie_[node].id = id;
  }

  t.vocab_ = std::move(vocab);
  return t;
}

std::optional<TokenId> Tokenizer::Find(std::string_view text) const {
  auto it = token_to_id_.find(text);
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::MergeRank(std::string_view left, std::string_view right) const {
  auto it = merge_rank_.find(MergeKey(left, right));
  return it == merge_rank_.end() ? -1 : it->second;
}

std::vector<Tokenizer::Fragment> Tokenizer::Partition(std::string_view text,
                                                      bool parse_special) const {
  std::vector<Fragment> frags = {Fragment{0, text.size(), -1}};
  // Which special tokens occur anywhere in the text.
  std::unordered_map<TokenId, bool> occurs;
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      int32_t child = -1;
      for (const auto& [c, n] : special_trie_[node].next) {
        if (c == text[j]) child = n;
      }
      if (child < 0) break;
      node = child;
      if (special_trie_[node].id >= 0) occurs[special_trie_[node].id] = true;
    }
  }
  if (occurs.empty()) return frags;

  // Each special token in turn (longest first) is cut out of every fragment
  // still raw, left to right: the order llama.cpp's tokenizer_st_partition uses.
  std::vector<Fragment> next;
  for (TokenId id : special_ids_) {
    const TokenType type = vocab_.types[id];
    if (!parse_special && (type == TokenType::kControl || type == TokenType::kUnknown)) {
      continue;
    }
    if (!occurs.contains(id)) continue;
    const std::string& tok = vocab_.tokens[id];

    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.begin;
      while (true) {
        const size_t m = text.substr(0, f.end).find(tok, pos);
        if (m == std::string_view::npos) {
          if (pos < f.end) next.push_back(Fragment{pos, f.end, -1});
          break;
        }
        if (m > pos) next.push_back(Fragment{pos, m, -1});
        next.push_back(Fragment{m, m + tok.size(), id});
        pos = m + tok.size();
      }
    }
    frags.swap(next);
  }
  return frags;
}

absl::Status Tokenizer::EmitBytes(std::string_view text, std::vector<TokenId>* out) const {
  for (char c : text) {
    const TokenId id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out->push_back(id);
    } else if (vocab_.unk_id >= 0) {
      out->push_back(vocab_.unk_id);
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "byte 0x%02X has no token (no <0x%02X> byte token and no unknown token)",
          static_cast<uint8_t>(c), static_cast<uint8_t>(c)));
    }
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::EncodeSpm(std::string_view text, std::vector<TokenId>* out) const {
  std::vector<Symbol> symbols = SplitChars(text);
  MergeSymbols(text, symbols,
               [&](std::string_view l, std::string_view r) -> std::optional<float> {
                 // Symbols are adjacent in `text`, so the pair is one view.
                 auto it = piece_to_id_.find(std::string_view(l.data(), l.size() + r.size()));
                 if (it == piece_to_id_.end()) return std::nullopt;
                 return vocab_.scores[it->second];
               });
  // Every merge produced a piece, so a symbol that is not a piece is a single
  // character outside the vocabulary: it falls back to its bytes.
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    std::string_view s = text.substr(symbols[i].begin, symbols[i].n);
    auto it = piece_to_id_.find(s);
    if (it != piece_to_id_.end()) {
      out->push_back(it->second);
    } else {
      SOV_RETURN_IF_ERROR(EmitBytes(s, out));
    }
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::EncodeBpeWord(std::string_view word, std::vector<TokenId>* out) const {
  // A newline run that is itself a token stays whole (llama.cpp's Gemma 4
  // rule: the merge list has no entries for newlines).
  if (word.find_first_not_of('\n') == std::string_view::npos) {
    auto it = piece_to_id_.find(word);
    if (it != piece_to_id_.end()) {
      out->push_back(it->second);
      return absl::OkStatus();
    }
  }
  std::vector<Symbol> symbols = SplitChars(word);
  MergeSymbols(word, symbols, [&](std::string_view l, std::string_view r) -> std::optional<float> {
    const int32_t rank = MergeRank(l, r);
    if (rank < 0) return std::nullopt;
    return -static_cast<float>(rank);  // exact: ranks stay below 2^24
  });
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    std::string_view s = word.substr(symbols[i].begin, symbols[i].n);
    auto it = piece_to_id_.find(s);
    if (it != piece_to_id_.end()) {
      out->push_back(it->second);
    } else {
      SOV_RETURN_IF_ERROR(EmitBytes(s, out));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TokenId>> Tokenizer::Encode(std::string_view text,
                                                       const EncodeOptions& options) const {
  SOV_RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<TokenId> out;
  std::vector<Fragment> frags;
  if (!text.empty()) frags = Partition(text, options.parse_special);

  // Exactly one BOS: a text that already starts with the BOS token keeps its own.
  if (options.add_bos && vocab_.add_bos &&
      (frags.empty() || frags.front().token != vocab_.bos_id)) {
    out.push_back(vocab_.bos_id);
  }
  bool prev_special = true;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    std::string raw;
    if (vocab_.model == VocabModel::kSpm && vocab_.add_space_prefix && prev_special) raw = " ";
    raw.append(text.substr(f.begin, f.end - f.begin));
    const std::string escaped = EscapeSpaces(raw);
    if (vocab_.model == VocabModel::kSpm) {
      SOV_RETURN_IF_ERROR(EncodeSpm(escaped, &out));
    } else {
      // Pre-split into newline runs and the runs between them.
      std::string_view s = escaped;
      size_t i = 0;
      while (i < s.size()) {
        const bool nl = s[i] == '\n';
        size_t j = i;
        while (j < s.size() && (s[j] == '\n') == nl) ++j;
        SOV_RETURN_IF_ERROR(EncodeBpeWord(s.substr(i, j - i), &out));
        i = j;
      }
    }
    prev_special = false;
  }
  return out;
}

absl::StatusOr<std::string> Tokenizer::Piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("token id %d is outside the vocabulary of %d tokens", id, size()));
  }
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.types[id]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      return render_special ? text : std::string();
    case TokenType::kUnused:
      // llama.cpp renders unused tokens as nothing as well.
      return render_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;
    case TokenType::kByte: {
      // "<0xXX>"; a malformed byte token renders as its text.
      if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
        int v = 0;
        for (int k = 3; k < 5; ++k) {
          const char c = text[k];
          int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -1;
          if (d < 0) return text;
          v = v * 16 + d;
        }
        return std::string(1, static_cast<char>(v));
      }
      return text;
    }
    case TokenType::kNormal:
    case TokenType::kUndefined:
      break;
  }
  return UnescapeSpaces(text);
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const TokenId> ids,
                                              bool render_special) const {
  std::string out;
  bool first_text = true;
  for (TokenId id : ids) {
    SOV_ASSIGN_OR_RETURN(std::string piece, Piece(id, render_special));
    // With a dummy prefix the first word's space was added by Encode.
    if (first_text && vocab_.add_space_prefix && !piece.empty() &&
        vocab_.types[id] == TokenType::kNormal && piece[0] == ' ') {
      piece.erase(0, 1);
    }
    if (!piece.empty()) first_text = false;
    out += piece;
  }
  return out;
}

absl::StatusOr<std::string> StreamDecoder::Push(TokenId id) {
  SOV_ASSIGN_OR_RETURN(std::string piece, tokenizer_->Piece(id, render_special_));
  pending_ += piece;
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int len = Utf8CharLength(std::string_view(pending_).substr(i));
    if (len < 0) break;  // incomplete: wait for the next token
    if (len == 0) {
      out += kReplacementChar;
      ++i;
    } else {
      out.append(pending_, i, len);
      i += len;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  for (size_t i = 0; i < pending_.size(); ++i) out += kReplacementChar;
  pending_.clear();
  return out;
}

}  // namespace sov
