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

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sov {

// How the pages of a mapped range are brought in before their first use.
// Without prefetch every first touch of a page faults, and a page that is not
// in the page cache is a synchronous disk read inside whatever kernel touched
// it (an embedding gather of a cold row costs milliseconds, not microseconds).
enum class MapPrefetch {
  kNone,      // on demand only
  kWillNeed,  // madvise(MADV_WILLNEED) window by window: reads the range into
              // the page cache (blocking about as long as reading the file when
              // it is cold, ~25 ms/GiB when cached) but maps nothing: pages join
              // the RSS only when touched
  kPopulate,  // MADV_POPULATE_READ (llama.cpp's MAP_POPULATE): reads and maps
              // every page before returning; the whole range counts in the RSS
};

// "none", "willneed" or "populate"; anything else is InvalidArgument naming
// the accepted values.
absl::StatusOr<MapPrefetch> ParseMapPrefetch(std::string_view name);
std::string_view MapPrefetchName(MapPrefetch p);

// Applies `mode` to the pages covering [data, data + size) of a read-only
// mapping (the range is widened to whole pages). Never writes to the pages.
// kPopulate falls back to reading one byte per page on kernels without
// MADV_POPULATE_READ (< 5.14). Errors carry the errno text.
absl::Status PrefetchMapped(const void* data, size_t size, MapPrefetch mode);

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
  // PrefetchMapped over the whole mapping.
  absl::Status Prefetch(MapPrefetch mode) const { return PrefetchMapped(data_, size_, mode); }

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
