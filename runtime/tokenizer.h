// Gemma tokenizers as llama.cpp runs them (spec gemma4.md §5.1, gguf.md §9.3):
//
//   * Gemma 3 GGUFs carry `tokenizer.ggml.model = "llama"`: SentencePiece BPE
//     driven by piece scores. Adjacent symbols are merged, highest-scoring
//     result first (leftmost on ties), over UTF-8 characters.
//   * Gemma 4 GGUFs carry `"gemma4"`: BPE driven by a ranked merge list, on
//     text pre-split into newline runs and non-newline runs.
//
// Both escape ' ' to U+2581 ("▁") before merging, add no dummy prefix unless
// the vocabulary asks for one, and fall back to <0xXX> byte tokens for
// characters that are not in the vocabulary.
//
// Special tokens are cut out of the text before any merging, longest token
// first, as llama.cpp's `tokenizer_st_partition` does. User-defined tokens
// (Gemma's newline, tab and space runs, HTML tags) are always cut out;
// control tokens (<bos>, <start_of_turn>, <|turn>, ...) only when
// `EncodeOptions::parse_special` is true, so untrusted text can be encoded
// with them as plain characters.
//
// Gemma 3's user-defined tokens include runs of literal spaces ("  ", id 138
// and up). They are matched on the raw text, before ' ' becomes "▁", as
// llama.cpp and Hugging Face's added tokens do; SentencePiece itself matches
// after escaping and so never emits them (the only difference between the two
// on the reference strings in tokenizer_testdata/).
//
// A "▁" typed in the text is indistinguishable from an escaped space and
// decodes as ' '.
//
// The tokenizer only knows the plain `Vocab` below; tokenizer_gguf.h fills one
// from a GGUF file, tokenizer_hf.h from a Hugging Face tokenizer.json.
#ifndef SOV_RUNTIME_TOKENIZER_H_
#define SOV_RUNTIME_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sov {

using TokenId = int32_t;

// `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabModel {
  kSpm,  // "llama": scores drive the merges (Gemma 3)
  kBpe,  // "gemma4": ranked merges drive them (Gemma 4)
};

// Everything a tokenizer needs, independent of the file it came from. Ids are
// indices into `tokens`; an absent special id is -1.
struct Vocab {
  VocabModel model = VocabModel::kSpm;
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores (required for kSpm)
  std::vector<TokenType> types;     // tokenizer.ggml.token_type (empty: all normal)
  std::vector<std::string> merges;  // tokenizer.ggml.merges, "left right" (required for kBpe)
  TokenId bos_id = -1;
  TokenId eos_id = -1;
  TokenId unk_id = -1;
  TokenId pad_id = -1;
  bool add_bos = true;            // tokenizer.ggml.add_bos_token
  bool add_space_prefix = false;  // tokenizer.ggml.add_space_prefix
};

struct EncodeOptions {
  // Prepend the vocabulary's BOS when `Vocab::add_bos` is set. Exactly one BOS
  // results: a BOS the text itself starts with (e.g. "<bos>" parsed as a
  // special token) is not doubled.
  bool add_bos = true;
  // Cut control tokens written in the text ("<start_of_turn>") out as single
  // tokens. When false they are tokenized as the characters they are made of.
  bool parse_special = true;
};

class Tokenizer {
 public:
  // Validates `vocab`; every error names the GGUF key at fault.
  static absl::StatusOr<Tokenizer> Create(Vocab vocab);

  // Errors if `text` is not valid UTF-8 (naming the byte offset) or a
  // character has neither a token nor a byte-fallback token.
  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                              const EncodeOptions& options = {}) const;

  // The bytes of the ids' pieces, concatenated; U+2581 becomes ' ' and byte
  // tokens become their byte. Control and unknown tokens render as nothing
  // unless `render_special`. Errors on an out-of-range id. The result is the
  // raw byte string: decoding an arbitrary id sequence may give invalid UTF-8
  // (use StreamDecoder for text that must be valid).
  absl::StatusOr<std::string> Decode(std::span<const TokenId> ids,
                                     bool render_special = false) const;

  // One token's bytes, with the same rules as Decode.
  absl::StatusOr<std::string> Piece(TokenId id, bool render_special = false) const;

  // The id of a token spelled exactly `text`, if any.
  std::optional<TokenId> Find(std::string_view text) const;

  int32_t size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  const Vocab& vocab() const { return vocab_; }
  TokenType type(TokenId id) const { return vocab_.types[id]; }
  TokenId bos_id() const { return vocab_.bos_id; }
  TokenId eos_id() const { return vocab_.eos_id; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  // A piece of the input: raw text still to be merged, or a special token.
  struct Fragment {
    size_t begin = 0, end = 0;
    TokenId token = -1;  // >= 0: a special token already resolved
  };

  Tokenizer() = default;
  std::vector<Fragment> Partition(std::string_view text, bool parse_special) const;
  absl::Status EncodeSpm(std::string_view text, std::vector<TokenId>* out) const;
  absl::Status EncodeBpeWord(std::string_view word, std::vector<TokenId>* out) const;
  absl::Status EmitBytes(std::string_view text, std::vector<TokenId>* out) const;
  int32_t MergeRank(std::string_view left, std::string_view right) const;

  Vocab vocab_;
  StringMap token_to_id_;               // every token
  StringMap piece_to_id_;               // tokens merging may produce (see Create)
  StringMap merge_rank_;                // "left" '\xff' "right" -> rank
  std::array<TokenId, 256> byte_ids_;   // <0xXX> tokens, -1 where absent
  std::vector<TokenId> special_ids_;    // control/user-defined/unknown, longest first
  // A byte trie over the special tokens' texts, to find in one pass which of
  // the thousands of them (Gemma has ~6k <unusedN>) occur in a text at all.
  struct TrieNode {
    std::vector<std::pair<char, int32_t>> next;
    TokenId id = -1;
  };
  std::vector<TrieNode> special_trie_;
};

// Turns a stream of generated ids into text that never ends inside a UTF-8
// character: bytes of an incomplete character are held back until the rest
// arrives. A byte that cannot start or continue a valid character (possible
// only with byte-fallback tokens in an order the tokenizer would never emit) is
// replaced by U+FFFD, so every string returned is valid UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tokenizer, bool render_special = false)
      : tokenizer_(tokenizer), render_special_(render_special) {}

  // Text completed by `id` (possibly empty).
  absl::StatusOr<std::string> Push(TokenId id);
  // End of stream: held-back bytes of an unfinished character, each as U+FFFD.
  std::string Flush();
  // Bytes currently held back.
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool render_special_;
  std::string pending_;
};

// Length of the valid UTF-8 character at the start of `s`, 0 if it is invalid
// (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF) and -1 if
// `s` is a valid but incomplete prefix of a character.
int Utf8CharLength(std::string_view s);

// OK, or InvalidArgument naming the offset and byte of the first invalid
// sequence.
absl::Status ValidateUtf8(std::string_view s);

}  // namespace sov

#endif  // SOV_RUNTIME_TOKENIZER_H_
