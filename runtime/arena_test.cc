#include "runtime/arena.h"

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sov {
namespace {

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kArenaAlignment == 0; }

TEST(AlignedBufferTest, AlignedAndZeroed) {
  for (size_t bytes : {1u, 63u, 64u, 65u, 1000u, 1u << 20}) {
    absl::StatusOr<AlignedBuffer> b = AlignedBuffer::Allocate(bytes);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(Aligned(b->data())) << bytes;
    EXPECT_EQ(b->size(), bytes);
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(b->data()[i], 0) << i;
  }
}

TEST(AlignedBufferTest, EmptyAndMove) {
  absl::StatusOr<AlignedBuffer> e = AlignedBuffer::Allocate(0);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->data(), nullptr);
  absl::StatusOr<AlignedBuffer> b = AlignedBuffer::Allocate(256);
  ASSERT_TRUE(b.ok());
  b->as<float>()[3] = 1.5f;
  const uint8_t* p = b->data();
  AlignedBuffer moved = *std::move(b);
  EXPECT_EQ(moved.data(), p);  // moving never relocates the bytes
  EXPECT_EQ(moved.as<float>()[3], 1.5f);
}

TEST(AlignedBufferTest, HugeRequestIsAnError) {
  absl::StatusOr<AlignedBuffer> b = AlignedBuffer::Allocate(SIZE_MAX - 8);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ArenaTest, CapacityIsRoundedUp) {
  absl::StatusOr<Arena> a = Arena::Create(100);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->capacity(), 128u);
  EXPECT_TRUE(Aligned(a->base()));
}

TEST(ArenaTest, BumpAllocationIsAlignedAndBounded) {
  absl::StatusOr<Arena> a = Arena::Create(1024);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<size_t> o1 = a->Allocate(10);
  absl::StatusOr<size_t> o2 = a->Allocate(100);
  absl::StatusOr<size_t> o3 = a->Allocate(64);
  ASSERT_TRUE(o1.ok() && o2.ok() && o3.ok());
  EXPECT_EQ(*o1, 0u);
  EXPECT_EQ(*o2, 64u);
  EXPECT_EQ(*o3, 192u);
  EXPECT_EQ(a->used(), 256u);
  EXPECT_TRUE(Aligned(a->At(*o2, 100)));
  // Planned buffers do not overlap: writing one leaves its neighbours alone.
  float* f2 = a->As<float>(*o2, 25);
  for (int i = 0; i < 25; ++i) f2[i] = 1.0f;
  EXPECT_EQ(a->As<float>(*o3, 16)[0], 0.0f);

  absl::StatusOr<size_t> too_big = a->Allocate(1024 - 256 + 1);
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), ::testing::HasSubstr("768 of 1024 left"));
  EXPECT_TRUE(a->Allocate(768).ok());  // exactly the rest
  a->Reset();
  EXPECT_EQ(a->used(), 0u);
}

TEST(ArenaDeathTest, OutOfRangeOffsetIsAnInvariantViolation) {
  absl::StatusOr<Arena> a = Arena::Create(256);
  ASSERT_TRUE(a.ok());
  EXPECT_DEATH(a->At(192, 128), "past capacity");
  EXPECT_DEATH(a->At(32, 4), "unaligned");
}

}  // namespace
}  // namespace sov
