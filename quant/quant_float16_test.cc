// fp16 / bf16 conversions (spec quantization.md §2.1, §2.2): ties, subnormals,
// overflow, NaN, checked against hand-derived bits and, for fp16, against the
// compiler's IEEE _Float16 conversion on every binary16 value and its midpoints.
#include "quant/float16.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace sov {
namespace {

float F(uint32_t bits) { return std::bit_cast<float>(bits); }

TEST(Fp16, Exact) {
  EXPECT_EQ(Fp32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3C00);
  EXPECT_EQ(Fp32ToFp16(-2.0f), 0xC000);
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7BFF);
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
}

TEST(Fp16, TiesToEven) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: even mantissa (1.0) wins.
  EXPECT_EQ(Fp32ToFp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3*2^-11 is halfway between 0x3C01 and 0x3C02: goes to 0x3C02.
  EXPECT_EQ(Fp32ToFp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Just above the first midpoint rounds up.
  EXPECT_EQ(Fp32ToFp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3C01);
  // 1/127 (the Q8_0 scale of an all-ones block) is 0x2008 (spec §14.2).
  EXPECT_EQ(Fp32ToFp16(1.0f / 127.0f), 0x2008);
}

TEST(Fp16, Subnormals) {
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.0f, -25)), 0x0000);            // tie with 0 -> even 0
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.5f, -25)), 0x0001);            // above the tie
  EXPECT_EQ(Fp32ToFp16(std::ldexp(3.0f, -25)), 0x0002);            // 1.5 units -> even 2
  EXPECT_EQ(Fp32ToFp16(std::ldexp(5.0f, -25)), 0x0002);            // 2.5 units -> even 2
  EXPECT_EQ(Fp32ToFp16(-std::ldexp(1.0f, -20)), 0x8010);
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1023.5f, -24)), 0x0400);         // rounds up into the normals
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-std::numeric_limits<float>::min()), 0x8000);
  EXPECT_EQ(Fp16ToFp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(Fp16ToFp32(0x83FF), -std::ldexp(1023.0f, -24));
}

TEST(Fp16, Overflow) {
  EXPECT_EQ(Fp32ToFp16(65519.996f), 0x7BFF);  // below the midpoint 65520
  EXPECT_EQ(Fp32ToFp16(65520.0f), 0x7C00);    // the midpoint rounds to even = infinity
  EXPECT_EQ(Fp32ToFp16(-1e6f), 0xFC00);
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(Fp32ToFp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(std::isinf(Fp16ToFp32(0x7C00)));
}

TEST(Fp16, NaN) {
  EXPECT_EQ(Fp32ToFp16(F(0x7FC00000)), 0x7E00);
  EXPECT_EQ(Fp32ToFp16(F(0x7F800001)), 0x7E00);  // signalling NaN: canonical quiet NaN
  EXPECT_EQ(Fp32ToFp16(F(0xFFFFFFFF)), 0xFE00);  // sign kept
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7E00)));
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0xFC01)));
}

// Every finite binary16 value, the midpoints between neighbours and one
// float32 ulp either side of each midpoint, against the compiler's IEEE
// round-to-nearest-even conversion.
TEST(Fp16, AgreesWithIeeeOnAllValuesAndMidpoints) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    if ((bits & 0x7C00) == 0x7C00) continue;  // inf / NaN covered above
    const float v = Fp16ToFp32(bits);
    ASSERT_EQ(v, static_cast<float>(std::bit_cast<_Float16>(bits))) << std::hex << h;
    ASSERT_EQ(Fp32ToFp16(v), bits) << std::hex << h;
    if ((bits & 0x7FFF) == 0x7BFF) continue;
    const float next = Fp16ToFp32(static_cast<uint16_t>(bits + 1));
    const float mid = v + (next - v) / 2;  // exact: one more bit than binary16
    for (float probe : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 2 * mid)}) {
      ASSERT_EQ(Fp32ToFp16(probe), std::bit_cast<uint16_t>(static_cast<_Float16>(probe)))
          << "probe " << probe << " near 0x" << std::hex << h;
    }
  }
}

TEST(Fp16, AgreesWithIeeeOnRandomBits) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    const float f = F(rng());
    if (std::isnan(f)) continue;
    ASSERT_EQ(Fp32ToFp16(f), std::bit_cast<uint16_t>(static_cast<_Float16>(f))) << f;
  }
}

TEST(Bf16, RoundingOverflowSubnormalNaN) {
  EXPECT_EQ(Fp32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(Fp32ToBf16(F(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(Fp32ToBf16(F(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(Fp32ToBf16(F(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(Fp32ToBf16(F(0x7F7FFFFF)), 0x7F80);  // FLT_MAX overflows to +inf
  EXPECT_EQ(Fp32ToBf16(F(0xFF7FFFFF)), 0xFF80);
  EXPECT_EQ(Fp32ToBf16(F(0x00018000)), 0x0002);  // subnormal kept, tie to even
  EXPECT_EQ(Fp32ToBf16(F(0x00010000)), 0x0001);
  EXPECT_EQ(Fp32ToBf16(F(0x7F800001)), 0x7FC0);  // NaN forced quiet, not rounded to inf
  EXPECT_EQ(Fp32ToBf16(F(0xFF81FFFF)), 0xFFC1);
  EXPECT_EQ(Bf16ToFp32(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFp32(0x0001), F(0x00010000));
  for (uint32_t h = 0; h < 0x10000; ++h) {  // widening then narrowing is the identity (non-NaN)
    const uint16_t b = static_cast<uint16_t>(h);
    if ((b & 0x7F80) == 0x7F80 && (b & 0x7F)) continue;
    ASSERT_EQ(Fp32ToBf16(Bf16ToFp32(b)), b);
  }
}

}  // namespace
}  // namespace sov
