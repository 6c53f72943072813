// Writes safetensors files (tests, converters). Tensors are laid out
// contiguously, largest element size first and then by name, so every tensor
// is aligned to its element size once the header is padded to 8 bytes — the
// same layout the reference writer produces, readable by any safetensors
// loader (which reject gaps between tensors).
#ifndef SOV_RUNTIME_SAFETENSORS_WRITER_H_
#define SOV_RUNTIME_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace sov {

class SafetensorsWriter {
 public:
  // Copies `bytes`; `dtype` is a safetensors name ("F32", "BF16", "U8", ...).
  // Errors: unknown dtype, duplicate name, byte count != shape x dtype size.
  absl::Status Add(std::string_view name, std::string_view dtype, std::vector<int64_t> shape,
                   std::string_view bytes);
  absl::Status AddF32(std::string_view name, std::vector<int64_t> shape,
                      std::span<const float> values);
  // Rounds each value to bf16 (round to nearest even; NaN stays NaN).
  absl::Status AddBF16(std::string_view name, std::vector<int64_t> shape,
                       std::span<const float> values);
  void SetMetadata(std::string_view key, std::string_view value);

  // The whole file image.
  std::string Serialize() const;
  // Writes Serialize() to `path` via a temporary file and rename, so a
  // reader never sees a half-written file.
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    std::string dtype;
    int element_size;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// float -> bf16 bits, round to nearest even.
uint16_t FloatToBF16(float f);

}  // namespace sov

#endif  // SOV_RUNTIME_SAFETENSORS_WRITER_H_
