// Zero-copy GGUF v2/v3 reader (spec gguf.md).
//
// The whole file is memory-mapped read-only; keys, strings and tensor data are
// views into the mapping and stay valid as long as the reader lives. Opening
// validates everything ggml's `gguf_init_from_file` validates (gguf.md §6.1),
// plus that every tensor lies inside the file, so later code can trust every
// count, shape and pointer. Every rejection is an absl::Status naming the file,
// the byte offset and, where there is one, the key or tensor.
//
//   SOV_ASSIGN_OR_RETURN(auto gguf, GgufReader::Open(path));
//   SOV_ASSIGN_OR_RETURN(uint32_t n_layer, gguf->GetU32("gemma4.block_count"));
//   SOV_ASSIGN_OR_RETURN(const GgufTensor* t, gguf->GetTensor("token_embd.weight"));
#ifndef SOV_RUNTIME_GGUF_READER_H_
#define SOV_RUNTIME_GGUF_READER_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/dtype.h"
#include "runtime/gguf_format.h"
#include "runtime/mapped_file.h"

namespace sov {

// One metadata pair. For a scalar, `elem_type == type` and `count == 1`.
struct GgufKV {
  std::string_view key;
  GgufType type;
  GgufType elem_type;  // element type of an ARRAY
  uint64_t count = 1;  // number of array elements
  // Scalar value or numeric array elements, little-endian and unaligned.
  const uint8_t* data = nullptr;
  std::string_view str;                // the STRING value
  std::vector<std::string_view> strs;  // the elements of a STRING array
  uint64_t offset = 0;                 // file offset of the pair (its key length)

  bool is_array() const { return type == GgufType::kArray; }
  // Element i of a numeric scalar/array as T; the caller has checked elem_type.
  template <typename T>
  T Get(uint64_t i = 0) const {
    T v;
    std::memcpy(&v, data + i * sizeof(T), sizeof(T));
    return v;
  }
  // "UINT32", or "ARRAY[STRING]" for arrays.
  std::string TypeName() const;
};

struct GgufTensor {
  std::string_view name;
  int32_t type = 0;            // ggml type id (any valid id, see gguf_format.h)
  std::optional<DType> dtype;  // nullopt when Sovereign has no kernels for `type`
  int n_dims = 0;              // as stored (trailing 1s may or may not be dropped)
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ne[0] innermost; unused dims are 1
  uint64_t offset = 0;         // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // absolute, into the mapping
  uint64_t info_offset = 0;       // file offset of the tensor info (for messages)

  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufReader {
 public:
  // Maps and validates the file at `path`.
  static absl::StatusOr<std::unique_ptr<GgufReader>> Open(const std::string& path);
  // Validates a copy of `bytes` (kept in an allocation of exactly that size, so
  // a sanitizer sees any read past the end). `name` prefixes error messages.
  static absl::StatusOr<std::unique_ptr<GgufReader>> FromBytes(std::string_view bytes,
                                                               std::string name = "<memory>");
  ~GgufReader();
  GgufReader(const GgufReader&) = delete;
  GgufReader& operator=(const GgufReader&) = delete;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint64_t alignment() const { return alignment_; }
  // Absolute file offset of the data section (gguf_get_data_offset).
  uint64_t data_offset() const { return data_offset_; }

  // ---- Metadata --------------------------------------------------------------
  const std::vector<GgufKV>& kvs() const { return kvs_; }
  const GgufKV* FindKV(std::string_view key) const;
  bool Has(std::string_view key) const { return FindKV(key) != nullptr; }

  // Scalars: the stored type must match exactly, as llama.cpp requires for
  // scalar keys (gguf.md §9.1). Errors name the key and the type found.
  absl::StatusOr<uint8_t> GetU8(std::string_view key) const;
  absl::StatusOr<uint16_t> GetU16(std::string_view key) const;
  absl::StatusOr<int16_t> GetI16(std::string_view key) const;
  absl::StatusOr<uint32_t> GetU32(std::string_view key) const;
  absl::StatusOr<int32_t> GetI32(std::string_view key) const;
  absl::StatusOr<uint64_t> GetU64(std::string_view key) const;
  absl::StatusOr<int64_t> GetI64(std::string_view key) const;
  absl::StatusOr<float> GetF32(std::string_view key) const;
  absl::StatusOr<double> GetF64(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string_view> GetString(std::string_view key) const;

  // The same, with a default for an absent key (a present key of the wrong
  // type is still an error).
  absl::StatusOr<uint32_t> GetU32Or(std::string_view key, uint32_t def) const;
  absl::StatusOr<float> GetF32Or(std::string_view key, float def) const;
  absl::StatusOr<bool> GetBoolOr(std::string_view key, bool def) const;

  // Arrays. Element types accepted as llama.cpp's get_arr does: integer arrays
  // may hold UINT32 or INT32 (values must fit the result), float arrays
  // FLOAT32 or INT32 (tokenizer scores written as integers).
  absl::StatusOr<std::span<const std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<uint32_t>> GetU32Array(std::string_view key) const;
  absl::StatusOr<std::vector<int32_t>> GetI32Array(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetF32Array(std::string_view key) const;
  absl::StatusOr<std::vector<bool>> GetBoolArray(std::string_view key) const;

  // Per-layer hyper-parameters ("key or array", gguf.md §9.1): a scalar is
  // replicated to `n_layer` entries; an array must have exactly `n_layer`.
  // Integer arrays may also be BOOL (llama.cpp reads sliding_window_pattern so).
  absl::StatusOr<std::vector<uint32_t>> GetU32PerLayer(std::string_view key,
                                                       uint32_t n_layer) const;
  absl::StatusOr<std::vector<float>> GetF32PerLayer(std::string_view key, uint32_t n_layer) const;
  absl::StatusOr<std::vector<bool>> GetBoolPerLayer(std::string_view key, uint32_t n_layer) const;

  // ---- Tensors ---------------------------------------------------------------
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* FindTensor(std::string_view name) const;
  absl::StatusOr<const GgufTensor*> GetTensor(std::string_view name) const;

 private:
  friend class GgufParser;
  GgufReader() = default;
  absl::Status Parse();
  absl::StatusOr<const GgufKV*> Require(std::string_view key) const;
  absl::Status TypeError(const GgufKV& kv, std::string_view expected) const;
  template <typename T>
  absl::StatusOr<T> GetScalar(std::string_view key, GgufType type) const;

  std::string name_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  MappedFile file_;                   // Open
  std::unique_ptr<uint8_t[]> owned_;  // FromBytes

  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKV> kvs_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_GGUF_READER_H_
