// Fills a tokenizer Vocab from the `tokenizer.ggml.*` keys of a GGUF file
// (spec gguf.md §9.3, §10.1).
#ifndef SOV_RUNTIME_TOKENIZER_GGUF_H_
#define SOV_RUNTIME_TOKENIZER_GGUF_H_

#include "absl/status/statusor.h"
#include "runtime/gguf_reader.h"
#include "runtime/tokenizer.h"

namespace sov {

// Reads model, tokens, scores, token types, merges, special ids and the
// add_bos / add_space_prefix flags. Errors name the missing or ill-typed key;
// consistency (lengths, ids in range) is checked by Tokenizer::Create.
// "llama" gives an SPM vocabulary, "gemma4" a BPE one (with add_bos forced on,
// as llama.cpp does for that pre-tokenizer); other models are rejected.
absl::StatusOr<Vocab> VocabFromGguf(const GgufReader& gguf);

// VocabFromGguf + Tokenizer::Create (which validates; errors start with the
// file name).
absl::StatusOr<Tokenizer> TokenizerFromGguf(const GgufReader& gguf);

}  // namespace sov

#endif  // SOV_RUNTIME_TOKENIZER_GGUF_H_
