// The vector dequantizers (cpu/dequant-inl.h) on every compiled target are
// bit-exact with quant's DequantizeRow, on random blocks (every bit pattern
// of quants and packed scales occurs; fp16 scales are kept finite).
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/weight_row.h"
#include "quant/blocks.h"
#include "quant/dtype.h"
#include "quant/quantize.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/dequant_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/dequant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

// Random row bytes for `blocks` blocks of `t`, with the fp16 fields at the
// given offsets replaced by finite values of either sign.
std::vector<uint8_t> RandomBlocks(DType t, int64_t blocks, std::initializer_list<size_t> f16_offsets,
                                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> b(static_cast<size_t>(blocks * TypeSize(t)));
  for (uint8_t& v : b) v = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  for (int64_t i = 0; i < blocks; ++i) {
    for (size_t off : f16_offsets) {
      const uint16_t h = F32ToF16(dist(rng));
      std::memcpy(&b[i * TypeSize(t) + off], &h, 2);
    }
  }
  return b;
}

void CheckType(DType t, std::initializer_list<size_t> f16_offsets) {
  for (int64_t blocks : {1, 3, 8}) {
    const auto bytes = RandomBlocks(t, blocks, f16_offsets, 17 * blocks + static_cast<int>(t));
    const int64_t n = blocks * BlockSize(t);
    std::vector<float> fast(static_cast<size_t>(n), -1.0f), slow(static_cast<size_t>(n), -2.0f);
    ASSERT_TRUE(DequantRowFast(t, bytes.data(), fast.data(), n));
    DequantizeRow(t, bytes.data(), slow.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(0, std::memcmp(&fast[i], &slow[i], 4))
          << hwy::TargetName(HWY_TARGET) << " " << Name(t) << " element " << i << ": "
          << fast[i] << " vs " << slow[i];
    }
  }
}

void TestDequantBitExact() {
  CheckType(DType::kQ8_0, {offsetof(BlockQ8_0, d)});
  CheckType(DType::kQ4_K, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)});
  CheckType(DType::kQ5_K, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)});
  CheckType(DType::kQ6_K, {offsetof(BlockQ6_K, d)});
  float dummy[32];
  ASSERT_FALSE(DequantRowFast(DType::kQ4_0, nullptr, dummy, 0));
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {
HWY_BEFORE_TEST(DequantTargetTest);
HWY_EXPORT_AND_TEST_P(DequantTargetTest, TestDequantBitExact);
}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
