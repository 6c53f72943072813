// Streaming GGUF v3 writer producing files ggml/llama.cpp load (gguf.md §5.3).
//
// Metadata and tensor infos are collected first (they are small); the tensor
// data is then pulled one tensor at a time from a callback, so a multi-GB model
// never sits in memory. Files are written to PATH.tmp and renamed into place
// only when everything succeeded, so a crash never leaves a truncated PATH.
//
//   GgufWriter w;
//   w.SetString("general.architecture", "gemma4");
//   w.SetU32("gemma4.block_count", 35);          // integer hyper-parameters: UINT32
//   SOV_RETURN_IF_ERROR(w.AddTensor("token_embd.weight", DType::kQ6_K, {1536, 262144}));
//   SOV_RETURN_IF_ERROR(w.WriteFile(path, [&](size_t i, const GgufTensorSpec& t, GgufSink& out) {
//     return out.Write(bytes_of(i), t.nbytes);
//   }));
#ifndef SOV_RUNTIME_GGUF_WRITER_H_
#define SOV_RUNTIME_GGUF_WRITER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "quant/dtype.h"
#include "runtime/gguf_format.h"

namespace sov {

struct GgufKV;

// Where tensor bytes go. A callback may call Write any number of times; the
// total must equal the tensor's nbytes.
class GgufSink {
 public:
  virtual ~GgufSink() = default;
  virtual absl::Status Write(const void* data, size_t n) = 0;
};

struct GgufTensorSpec {
  std::string name;
  int32_t type = 0;                          // ggml type id
  int n_dims = 1;                            // as written: trailing 1s dropped, at least 1
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ne[0] innermost
  uint64_t nbytes = 0;
  // Relative to the data section (running padded sum); filled in the spec
  // handed to DataFn, 0 in tensors().
  uint64_t offset = 0;
};

class GgufWriter {
 public:
  // Produces tensor `index`'s bytes into `out`.
  using DataFn = std::function<absl::Status(size_t index, const GgufTensorSpec& t, GgufSink& out)>;

  GgufWriter() = default;

  // ---- Metadata: insertion order is file order. Setting an existing key
  // removes it and appends the new value, as ggml's gguf_set_* do (so a
  // re-set key moves last, which llama-quantize's output layout relies on).
  void SetU8(std::string_view key, uint8_t v);
  void SetI8(std::string_view key, int8_t v);
  void SetU16(std::string_view key, uint16_t v);
  void SetI16(std::string_view key, int16_t v);
  void SetU32(std::string_view key, uint32_t v);
  void SetI32(std::string_view key, int32_t v);
  void SetU64(std::string_view key, uint64_t v);
  void SetI64(std::string_view key, int64_t v);
  void SetF32(std::string_view key, float v);
  void SetF64(std::string_view key, double v);
  void SetBool(std::string_view key, bool v);
  void SetString(std::string_view key, std::string_view v);

  // Numeric array of `count` elements of `elem` (not STRING/ARRAY) stored
  // little-endian at `data`.
  void SetArray(std::string_view key, GgufType elem, const void* data, uint64_t count);
  void SetU8Array(std::string_view key, std::span<const uint8_t> v);
  void SetI8Array(std::string_view key, std::span<const int8_t> v);
  void SetU32Array(std::string_view key, std::span<const uint32_t> v);
  void SetI32Array(std::string_view key, std::span<const int32_t> v);
  void SetF32Array(std::string_view key, std::span<const float> v);
  void SetBoolArray(std::string_view key, const std::vector<bool>& v);
  void SetStringArray(std::string_view key, std::span<const std::string> v);
  void SetStringArray(std::string_view key, std::span<const std::string_view> v);

  // Copies a pair read by GgufReader (e.g. to carry a model's metadata over).
  void CopyKV(const GgufKV& kv);
  bool Remove(std::string_view key);
  bool Has(std::string_view key) const;
  size_t kv_count() const { return kvs_.size(); }

  // ---- Tensors, in file order. Errors name the tensor and the problem.
  absl::Status AddTensor(std::string_view name, int32_t ggml_type, std::span<const int64_t> ne);
  absl::Status AddTensor(std::string_view name, DType type, std::initializer_list<int64_t> ne) {
    return AddTensor(name, static_cast<int32_t>(type), std::span<const int64_t>(ne.begin(), ne.size()));
  }
  const std::vector<GgufTensorSpec>& tensors() const { return tensors_; }

  // Data alignment: general.alignment if set (must be a UINT32 power of two),
  // else 32.
  absl::StatusOr<uint64_t> Alignment() const;
  // Absolute offset of the data section and the total file size.
  absl::StatusOr<uint64_t> DataOffset() const;
  absl::StatusOr<uint64_t> FileSize() const;

  // Writes PATH.tmp, then renames it to `path`. On failure PATH.tmp is removed
  // and `path` untouched.
  absl::Status WriteFile(const std::string& path, const DataFn& data) const;
  // The same bytes in memory (tests, small files).
  absl::StatusOr<std::string> WriteToString(const DataFn& data) const;
  // The same bytes to any sink.
  absl::Status WriteTo(GgufSink& out, const DataFn& data) const;

 private:
  struct Entry {
    std::string key;
    GgufType type;
    std::string value;  // encoded value, everything after the type field
    uint64_t array_count = 0;
    uint64_t longest_string = 0;  // checked against ggml's limit when writing
  };
  void Put(std::string_view key, GgufType type, std::string value, uint64_t array_count = 0,
           uint64_t longest_string = 0);
  absl::Status Validate() const;
  std::string EncodeMetadata(uint64_t alignment) const;  // header .. end of tensor infos

  std::vector<Entry> kvs_;
  std::vector<GgufTensorSpec> tensors_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_GGUF_WRITER_H_
