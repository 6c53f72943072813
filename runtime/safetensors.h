// Memory-mapped reader for the safetensors format (Hugging Face checkpoints).
//
// File layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]},
//    ..., "__metadata__": {"<key>": "<string>", ...}}
// then the data section; offsets are relative to its first byte (8 + N).
//
// Every field is validated when a file is opened, so later lookups cannot
// read outside the mapping: a corrupt or hostile file yields an error naming
// the file and the tensor, never a crash. Files are opened read-only.
#ifndef SOV_RUNTIME_SAFETENSORS_H_
#define SOV_RUNTIME_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/dtype.h"
#include "runtime/mapped_file.h"
#include "runtime/tensor.h"

namespace sov {

// Headers larger than this are rejected as corrupt (the same limit as the
// reference implementation; a 2000-tensor checkpoint needs ~200 KB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Element size in bytes of a safetensors dtype name ("BF16" -> 2); nullopt
// for names that are unknown or sub-byte (F4, F6_*), which are unsupported.
std::optional<int> SafetensorsDTypeSize(std::string_view name);
// Sovereign's DType for a safetensors dtype name; nullopt for types no kernel
// consumes (BOOL, U8, U16, U32, U64, F8_*, C64).
std::optional<DType> SafetensorsToDType(std::string_view name);
// Inverse, for writers: "F32", "BF16", ...; empty for types safetensors lacks.
std::string_view DTypeToSafetensors(DType t);

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;         // as stored: "BF16", "F32", "U8", ...
  std::optional<DType> dtype;     // SafetensorsToDType(dtype_name)
  int element_size = 0;           // bytes
  std::vector<int64_t> shape;     // any rank; [] is a scalar
  const uint8_t* data = nullptr;  // into the mapping (nullptr if nbytes == 0)
  uint64_t nbytes = 0;
  uint64_t file_offset = 0;  // absolute byte offset in its file
  int file_index = 0;        // index into SafetensorsReader::files()

  int64_t numel() const;
};

// Parsed header of one file image. `source` names the file in errors; the
// returned tensors point into `image`.
struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + N
};
absl::StatusOr<SafetensorsHeader> ParseSafetensors(std::string_view image, std::string_view source);

// One safetensors file, or a set of shards read as one name space.
class SafetensorsReader {
 public:
  // `path`: a .safetensors file, a model.safetensors.index.json, or an HF
  // model directory holding model.safetensors or model.safetensors.index.json.
  static absl::StatusOr<SafetensorsReader> Open(const std::string& path);

  SafetensorsReader(SafetensorsReader&&) = default;
  SafetensorsReader& operator=(SafetensorsReader&&) = default;

  // Sorted.
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  // nullptr when absent.
  const SafetensorsTensor* Find(std::string_view name) const;
  // NotFound error naming the closest existing name when absent.
  absl::StatusOr<const SafetensorsTensor*> Lookup(std::string_view name) const;
  // View of the tensor as stored; errors for missing names, dtypes without a
  // DType (e.g. U8) and rank > 4.
  absl::StatusOr<TensorView> Get(std::string_view name) const;

  // The "__metadata__" of the first file.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Paths of the files, in file_index order.
  std::vector<std::string> files() const;

 private:
  SafetensorsReader() = default;
  absl::Status AddFile(const std::string& path);
  absl::Status BuildIndex();
  std::string ClosestName(std::string_view name) const;

  struct File {
    MappedFile map;
    std::vector<SafetensorsTensor> tensors;
  };
  std::vector<std::unique_ptr<File>> files_;  // stable addresses for by_name_
  std::map<std::string, const SafetensorsTensor*, std::less<>> by_name_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_SAFETENSORS_H_
