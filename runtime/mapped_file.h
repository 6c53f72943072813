// Read-only memory mapping of a whole file, and a whole-file read helper.
//
// Checkpoints are mapped rather than read so that weights stored in a layout
// the kernels accept can be used in place (zero copy) and pages are shared
// between processes through the page cache.
#ifndef SOV_RUNTIME_MAPPED_FILE_H_
#define SOV_RUNTIME_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sov {

// Owns one PROT_READ, MAP_PRIVATE mapping of a regular file. Move-only. The
// file descriptor is closed right after mapping: the mapping keeps the pages
// reachable. An empty file is valid and maps to {nullptr, 0}.
class MappedFile {
 public:
  // Errors name the path and the errno text (missing file, permission,
  // directory, mmap failure).
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }
  const std::string& path() const { return path_; }
  bool is_open() const { return !path_.empty(); }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  void Release();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file, e.g. config.json. Errors name the path and the
// errno text.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace sov

#endif  // SOV_RUNTIME_MAPPED_FILE_H_
