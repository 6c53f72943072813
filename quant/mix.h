// Per-tensor type choice of llama.cpp's model quantizer (llama-quant.cpp) for
// the Q4_K_M, Q5_K_M, Q8_0, BF16, F16 and F32 file types (spec
// quantization.md §12). A pure function of the tensor list: no file I/O.
//
// Not modelled (no Gemma checkpoint needs them): the Falcon and LLaMA-70B
// special cases, --tensor-type regex overrides, and layer pruning.
#ifndef SOV_QUANT_MIX_H_
#define SOV_QUANT_MIX_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/dtype.h"

namespace sov {

// llama_ftype ids, as written to general.file_type.
enum class FileType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ8_0 = 7,
  kQ4_K_M = 15,
  kQ5_K_M = 17,
  kBF16 = 32,
};

// The type that tensors without a special rule get ("DEF" in the spec).
DType DefaultType(FileType ftype);

std::optional<FileType> ParseFileType(std::string_view name);  // "q4_k_m", "Q5_K_M", "bf16", ...

struct MixTensor {
  std::string name;                 // GGUF name, e.g. "blk.3.attn_v.weight"
  std::array<int64_t, 4> ne{1, 1, 1, 1};  // ggml order: ne[0] is the row length
  DType source = DType::kF32;       // type in the input file
};

struct MixOptions {
  std::optional<DType> output_tensor_type;    // --output-tensor-type
  std::optional<DType> token_embedding_type;  // --token-embedding-type
  bool leave_output_tensor = false;           // --leave-output-tensor
  bool pure = false;                          // --pure: DEF everywhere, then the row-size fallback
};

// The type each tensor is written with, index-aligned with `tensors` (which
// may be in any order: the counters of §12.1 run in the loader's order, which
// this function establishes itself). `block_count` is {arch}.block_count,
// `expert_count` {arch}.expert_count (0 for dense models). Errors: a row
// length no type can take (e.g. Q8_0 for ne[0] % 32 != 0), an expert tensor
// without a valid "blk.N." layer.
absl::StatusOr<std::vector<DType>> ChooseTensorTypes(FileType ftype, const std::vector<MixTensor>& tensors,
                                                     int block_count, int expert_count,
                                                     const MixOptions& options = {});

// Building blocks, exposed for tests and for tools that explain a mix.

// i < n/8, i >= 7n/8, or every third layer in between.
bool UseMoreBits(int i, int n);

// Whether the tensor is quantized at all (§12.2), before any type rule.
bool TensorAllowsQuantization(const MixTensor& t, const MixOptions& options = {});

// Indices of `names` in the loader's order: tensors without a "blk.N." prefix
// first, then by N, ties by byte-wise name comparison.
std::vector<size_t> ProcessingOrder(const std::vector<std::string>& names);

}  // namespace sov

#endif  // SOV_QUANT_MIX_H_
