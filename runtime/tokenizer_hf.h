// Fills a tokenizer Vocab from a Hugging Face `tokenizer.json` (the form Gemma
// checkpoints ship next to their safetensors).
//
// Gemma's tokenizer.json is a BPE model: `model.vocab` (piece -> id),
// `model.merges` ("left right" strings or [left, right] pairs, rank = index),
// byte fallback through "<0xXX>" pieces, and `added_tokens` for the control
// ("special": true) and user-defined ("special": false) tokens. The result is
// a VocabModel::kBpe vocabulary; special ids are looked up by Gemma's
// spellings <bos>, <eos>, <unk>, <pad>, and BOS is added (spec gemma4.md §5.1).
#ifndef SOV_RUNTIME_TOKENIZER_HF_H_
#define SOV_RUNTIME_TOKENIZER_HF_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/tokenizer.h"

namespace sov {

// `source` names the file in errors; errors name the JSON key at fault.
absl::StatusOr<Vocab> VocabFromHfTokenizerJson(std::string_view json_text,
                                               std::string_view source);

// Reads `path` and builds the tokenizer.
absl::StatusOr<Tokenizer> TokenizerFromHfFile(const std::string& path);

}  // namespace sov

#endif  // SOV_RUNTIME_TOKENIZER_HF_H_
