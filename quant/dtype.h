// Element / block types. Values are ggml's `enum ggml_type` ids so that GGUF
// tensor infos map 1:1 (spec quantization.md §1).
#ifndef SOV_QUANT_DTYPE_H_
#define SOV_QUANT_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sov {

enum class DType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,   // read-only (fallback type of llama-quant; dequantize only)
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,  // activations only
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // ggml spelling: "f32", "q4_K", ...
  int32_t block_size;     // elements per block (1 for plain types)
  int32_t type_size;      // bytes per block
  bool quantized;
};

// nullopt for ids that are unknown, removed, or not supported by Sovereign.
std::optional<DTypeInfo> LookupDType(int32_t ggml_id);
const DTypeInfo& Info(DType t);
std::optional<DType> ParseDType(std::string_view name);  // case-insensitive

inline std::string_view Name(DType t) { return Info(t).name; }
inline int32_t BlockSize(DType t) { return Info(t).block_size; }
inline int32_t TypeSize(DType t) { return Info(t).type_size; }
inline bool IsQuantized(DType t) { return Info(t).quantized; }

// Bytes of one row of `n` elements; n must be a multiple of BlockSize(t).
inline size_t RowBytes(DType t, int64_t n) {
  const DTypeInfo& i = Info(t);
  return static_cast<size_t>(n / i.block_size) * static_cast<size_t>(i.type_size);
}

}  // namespace sov

#endif  // SOV_QUANT_DTYPE_H_
