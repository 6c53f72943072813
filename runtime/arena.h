// Aligned memory for activations and converted weights.
//
// `Arena` is one allocation, sized once by the memory planner, out of which
// the executor addresses planned activation buffers by byte offset. Nothing
// is freed individually: the plan decides lifetimes, the arena only holds
// bytes. `AlignedBuffer` owns one aligned block (e.g. a weight converted to
// f32 or repacked) whose address must stay put while views point into it.
//
// Alignment is 64 bytes (one cache line, one AVX-512 vector) so every planned
// buffer can be loaded with aligned vector loads and no two buffers share a
// cache line (no false sharing between threads writing neighbouring buffers).
#ifndef SOV_RUNTIME_ARENA_H_
#define SOV_RUNTIME_ARENA_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "runtime/check.h"

namespace sov {

inline constexpr size_t kArenaAlignment = 64;

// Rounds `n` up to a multiple of `align` (a power of two).
constexpr size_t AlignUp(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

// Owning, move-only, kArenaAlignment-aligned, zero-initialised bytes.
class AlignedBuffer {
 public:
  // Fails with ResourceExhausted (naming the size) when memory is short: the
  // size usually comes from a user's model file or flags.
  static absl::StatusOr<AlignedBuffer> Allocate(size_t bytes);

  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(data_);
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_);
  }

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class Arena {
 public:
  // Capacity is rounded up to kArenaAlignment.
  static absl::StatusOr<Arena> Create(size_t capacity_bytes);

  Arena() = default;

  size_t capacity() const { return buffer_.size(); }
  uint8_t* base() { return buffer_.data(); }
  const uint8_t* base() const { return buffer_.data(); }

  // Pointer to planned bytes [offset, offset + bytes). Offsets come from the
  // memory planner, so a bad one is a programming error (SOV_CHECK).
  uint8_t* At(size_t offset, size_t bytes) {
    SOV_CHECK(offset % kArenaAlignment == 0) << "unaligned arena offset " << offset;
    SOV_CHECK(offset <= capacity() && bytes <= capacity() - offset)
        << "arena range [" << offset << ", +" << bytes << ") past capacity " << capacity();
    return buffer_.data() + offset;
  }
  template <typename T>
  T* As(size_t offset, size_t count) {
    return reinterpret_cast<T*>(At(offset, count * sizeof(T)));
  }

  // Bump allocation for users without a plan (tests, tools): returns the
  // aligned offset of `bytes` fresh bytes, or ResourceExhausted.
  absl::StatusOr<size_t> Allocate(size_t bytes);
  size_t used() const { return used_; }
  void Reset() { used_ = 0; }

 private:
  AlignedBuffer buffer_;
  size_t used_ = 0;
};

}  // namespace sov

#endif  // SOV_RUNTIME_ARENA_H_
