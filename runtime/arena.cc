#include "runtime/arena.h"

#include <cstring>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sov {

absl::StatusOr<AlignedBuffer> AlignedBuffer::Allocate(size_t bytes) {
  AlignedBuffer b;
  if (bytes == 0) return b;
  if (bytes > SIZE_MAX - kArenaAlignment) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes"));
  }
  const size_t rounded = AlignUp(bytes, kArenaAlignment);
  void* p = ::operator new (rounded, std::align_val_t{kArenaAlignment}, std::nothrow);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes (", kArenaAlignment, "-byte aligned)"));
  }
  // Zeroed so padding and never-written planned buffers hold defined values.
  std::memset(p, 0, rounded);
  b.data_ = static_cast<uint8_t*>(p);
  b.size_ = bytes;
  return b;
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { Release(); }

void AlignedBuffer::Release() {
  if (data_ != nullptr) ::operator delete (data_, std::align_val_t{kArenaAlignment});
  data_ = nullptr;
  size_ = 0;
}

absl::StatusOr<Arena> Arena::Create(size_t capacity_bytes) {
  if (capacity_bytes > SIZE_MAX - kArenaAlignment) {
    return absl::ResourceExhaustedError(
        absl::StrCat("arena capacity ", capacity_bytes, " bytes is too large"));
  }
  Arena a;
  absl::StatusOr<AlignedBuffer> buf =
      AlignedBuffer::Allocate(AlignUp(capacity_bytes, kArenaAlignment));
  if (!buf.ok()) return buf.status();
  a.buffer_ = *std::move(buf);
  return a;
}

absl::StatusOr<size_t> Arena::Allocate(size_t bytes) {
  const size_t offset = used_;  // always aligned: every allocation is rounded up
  const size_t rounded = AlignUp(bytes, kArenaAlignment);
  if (bytes > capacity() || rounded > capacity() - offset) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "arena: ", bytes, " bytes requested, ", capacity() - offset, " of ", capacity(), " left"));
  }
  used_ = offset + rounded;
  return offset;
}

}  // namespace sov
