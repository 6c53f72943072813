// GGUF container constants and the ggml tensor-type table shared by the GGUF
// reader and writer (spec gguf.md §3–§5, quantization.md §1).
//
// The type table here covers every ggml type id a GGUF file may carry, not only
// the ones Sovereign computes with (quant/dtype.h): a reader must be able to
// size and skip an IQ2_XXS tensor to validate a file, and `sov gguf-info` must
// show it, even though no kernel will ever read it.
#ifndef SOV_RUNTIME_GGUF_FORMAT_H_
#define SOV_RUNTIME_GGUF_FORMAT_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sov {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
inline constexpr uint32_t kGgufVersion = 3;         // what the writer emits; the reader takes 2 and 3
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr std::string_view kGgufAlignmentKey = "general.alignment";
// ggml's GGML_MAX_NAME is 64 including the terminating NUL.
inline constexpr uint64_t kGgufMaxTensorName = 63;
inline constexpr int kGgufMaxDims = 4;
// ggml refuses longer strings and arrays, so neither the reader nor the writer
// accepts them (and the reader can bound allocations before trusting a count).
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t{1} << 30;
inline constexpr uint64_t kGgufMaxArrayElements = uint64_t{1} << 30;

// Metadata value types (`enum gguf_type`), stored as int32.
enum class GgufType : int32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

bool IsValidGgufType(int32_t id);
// "UINT32", "STRING", ...; "TYPE#<id>" for ids outside the enum.
std::string GgufTypeName(GgufType t);
// Encoded size of one scalar; 0 for kString and kArray (variable length).
uint64_t GgufScalarSize(GgufType t);

// Block geometry of a ggml tensor type (ggml.c `type_traits`).
struct GgmlTypeTraits {
  int32_t id;
  std::string_view name;  // ggml spelling, e.g. "q4_K"
  int64_t block_size;     // elements per block
  int64_t type_size;      // bytes per block
};

// nullptr for ids that are out of range or removed (4, 5, 31–33, 36–38).
const GgmlTypeTraits* FindGgmlType(int32_t id);
// The ggml name, or "type#<id>" for an unknown id.
std::string GgmlTypeName(int32_t id);

// Byte size of a contiguous tensor of `type` with extents `ne` (ne[0]
// innermost). Errors (naming the dimension or value) if the type is unknown or
// removed, there are more than 4 dims, an extent is negative, the element
// count or byte size overflows int64, or ne[0] is not a whole number of blocks.
absl::StatusOr<uint64_t> GgmlTensorBytes(int32_t type, std::span<const int64_t> ne);

// Rounds x up to a multiple of `align` (a power of two); false on overflow.
inline bool GgufPadChecked(uint64_t x, uint64_t align, uint64_t* out) {
  uint64_t sum;
  if (__builtin_add_overflow(x, align - 1, &sum)) return false;
  *out = sum & ~(align - 1);
  return true;
}

inline bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace sov

#endif  // SOV_RUNTIME_GGUF_FORMAT_H_
