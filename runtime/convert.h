// `sov quantize`: a Hugging Face Gemma 4 directory or a Gemma 4 GGUF ->
// a GGUF file llama.cpp loads, with llama-quantize's per-tensor types
// (quant/mix.h), tensor order and KV order (spec gguf.md §11,
// quantization.md §12).
//
//  * The input is opened read-only and never modified; the output is written
//    to OUT.tmp and renamed to OUT when complete.
//  * Rows are quantized in parallel (kernels::ParallelFor); every row is
//    independent, so the bytes do not depend on the thread count.
//  * A tensor whose chosen type equals its source type is copied byte for
//    byte, so a GGUF re-written with the type it already has is identical.
//  * Already-quantized GGUF tensors given another type are dequantized to f32
//    and re-quantized (llama-quantize's --allow-requantize).
#ifndef SOV_RUNTIME_CONVERT_H_
#define SOV_RUNTIME_CONVERT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/gemma4/config.h"
#include "quant/mix.h"
#include "runtime/gguf_writer.h"

namespace sov {

struct QuantizeOptions {
  FileType ftype = FileType::kQ8_0;
  std::string imatrix_path;  // empty: no importance matrix
  int threads = 0;           // 0: oneTBB default
  bool progress = false;     // a progress bar on stderr
  MixOptions mix;
  // Rows per block for GeneratedTensor sources; 0: about 8 MiB of f32. The
  // bytes do not depend on it (tests vary it).
  int64_t generated_block_rows = 0;
};

struct QuantizeReport {
  int64_t tensors = 0;
  int64_t quantized = 0;  // tensors whose bytes were (re)computed rather than copied
  int64_t imatrix_used = 0;
  uint64_t bytes_out = 0;  // tensor data only
  std::map<std::string, int64_t> type_counts;  // output type name -> tensors
};

// IN: an HF model directory or a GGUF file; OUT: the GGUF to write.
absl::StatusOr<QuantizeReport> QuantizeModel(const std::string& in, const std::string& out,
                                             const QuantizeOptions& opt);

// A tensor computed on demand instead of read from a file (`sov synth`).
// `rows(r0, n, dst)` writes f32 rows [r0, r0 + n) of the tensor viewed as
// [ne[1]*ne[2]*ne[3], ne[0]]; it is called concurrently for disjoint ranges
// and must depend only on its arguments, so the file bytes do not depend on
// the thread count. Tensors are produced a row block at a time: the whole
// tensor is never in memory.
struct GeneratedTensor {
  std::string name;  // GGUF name
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  int n_dims = 1;
  DType source = DType::kF32;  // the input type the mix rules see
  std::function<void(int64_t r0, int64_t n, float* dst)> rows;
};

// Writes `tensors` with the same type choice, order and parallel quantization
// as QuantizeModel. `metadata` sets every key except
// general.quantization_version / general.file_type (added after it).
absl::StatusOr<QuantizeReport> WriteGeneratedModel(
    const gemma4::ModelConfig& c, std::vector<GeneratedTensor> tensors,
    const std::function<absl::Status(GgufWriter&)>& metadata, const std::string& out,
    const QuantizeOptions& opt);

// The `gemma4.*` keys of gemma4.md §3.3 for `c`, with the value types
// llama.cpp reads (UINT32 integers, FLOAT32 floats, BOOL pattern, per-layer
// arrays where layers differ). Errors for configs GGUF cannot express.
absl::Status SetGemma4Metadata(const gemma4::ModelConfig& c, GgufWriter& w);

// Tokenizer keys from an HF tokenizer.json in `dir` (model "gemma4", tokens
// padded with "[PADi]" to the embedding's rows, scores when the vocabulary has
// them, token types, merges, special ids, add_bos / add_space_prefix); false
// when `dir` has no tokenizer.json.
absl::StatusOr<bool> SetTokenizerFromHf(const std::string& dir, const gemma4::ModelConfig& c,
                                        GgufWriter& w);

// An importance matrix: per weight name, n_mat rows of ne[0] values (one row
// per expert for 3-D tensors, one row otherwise).
struct Imatrix {
  struct Entry {
    int64_t cols = 0;
    int64_t n_mat = 0;
    std::vector<float> values;  // [n_mat, cols]
  };
  std::map<std::string, Entry, std::less<>> entries;
  std::string dataset;  // first dataset name, if recorded
  int64_t chunks = 0;
};

// llama.cpp's imatrix GGUF (`<name>.in_sum2` / `<name>.counts` tensors) or
// the legacy binary .dat format. Values are in_sum2 / count (1 where a
// matrix saw no calibration input), as llama-quantize computes them.
absl::StatusOr<Imatrix> LoadImatrix(const std::string& path);

}  // namespace sov

#endif  // SOV_RUNTIME_CONVERT_H_
