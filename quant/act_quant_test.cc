// ggml's x86 activation quantizers (quant/act_quant.h): hand-computed blocks
// for ties, the 127/amax multiplier, zero and overflowing-multiplier blocks,
// and digests of ggml-cpu's own from_float on a fixed input set.
#include "quant/act_quant.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "quant/float16.h"
#include "quant/quantize.h"
#include "quant/testing/sha256.h"
#include "quant/testing/spec_data.h"

namespace sov {
namespace {

struct Both {
  BlockQ8_0 q0;
  BlockQ8_1 q1;
};

Both Quantize(const float* x) {
  Both b;
  QuantizeActQ8_0(x, &b.q0, kQK);
  QuantizeActQ8_1(x, &b.q1, kQK);
  // Q8_0 and Q8_1 share d and qs by construction of ggml's two routines.
  EXPECT_EQ(b.q0.d, b.q1.d);
  EXPECT_EQ(0, std::memcmp(b.q0.qs, b.q1.qs, kQK));
  return b;
}

// amax = 127 gives the multiplier 1 and d = 1: every x.5 is a tie, which goes
// to the even neighbour (the reference quantizer's roundf goes away from 0).
TEST(ActQuant, TiesGoToEven) {
  float x[kQK] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 3.5f};
  const Both b = Quantize(x);
  const int8_t want[10] = {127, 0, 2, 2, 0, -2, -2, 126, -126, 4};
  EXPECT_EQ(b.q0.d, 0x3C00);  // 1.0
  for (int j = 0; j < 10; ++j) EXPECT_EQ(b.q0.qs[j], want[j]) << j;
  for (int j = 10; j < kQK; ++j) EXPECT_EQ(b.q0.qs[j], 0) << j;
  // s = d * (127 + 0 + 2 + 2 + 0 - 2 - 2 + 126 - 126 + 4) = 131 = 0x5818 in fp16.
  EXPECT_EQ(b.q1.s, 0x5818);

  BlockQ8_0 ref;
  ASSERT_TRUE(QuantizeRows(DType::kQ8_0, x, 1, kQK, nullptr, &ref).ok());
  EXPECT_EQ(ref.qs[1], 1) << "the file quantizer rounds ties away from zero";
  EXPECT_EQ(ref.qs[3], 3);
}

// amax = 254: d = 2, multiplier 0.5 (both exact), ties at odd x.
TEST(ActQuant, ScaledTies) {
  float x[kQK] = {};
  x[0] = -254.0f;
  x[1] = 1.0f;    // 0.5 -> 0
  x[2] = 3.0f;    // 1.5 -> 2
  x[3] = 5.0f;    // 2.5 -> 2
  x[4] = -7.0f;   // -3.5 -> -4
  x[5] = 253.0f;  // 126.5 -> 126
  const Both b = Quantize(x);
  EXPECT_EQ(b.q0.d, 0x4000);  // 2.0
  const int8_t want[6] = {-127, 0, 2, 2, -4, 126};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(b.q0.qs[j], want[j]) << j;
  // s = 2 * (-127 + 0 + 2 + 2 - 4 + 126) = -2 = 0xC000.
  EXPECT_EQ(b.q1.s, 0xC000);
}

// amax = 11: 127.f / 11 = 11.545455 (0x4138B92F) while 1 / (11.f / 127)
// = 11.545454 (0x4138B92E). For x = 0x3E050A14 the first gives exactly 1.5
// (-> 2), the second 1.4999999 (-> 1 whatever the tie rule).
TEST(ActQuant, MultiplierIs127OverAmax) {
  float x[kQK] = {};
  x[0] = 11.0f;
  x[1] = std::bit_cast<float>(0x3E050A14u);
  ASSERT_EQ(x[1] * (127.0f / 11.0f), 1.5f);
  ASSERT_LT(x[1] * (1.0f / (11.0f / 127.0f)), 1.5f);
  const Both b = Quantize(x);
  EXPECT_EQ(b.q0.d, 0x2D8B);  // fp16(11 / 127)
  EXPECT_EQ(b.q0.qs[0], 127);
  EXPECT_EQ(b.q0.qs[1], 2);
  BlockQ8_0 ref;
  ASSERT_TRUE(QuantizeRows(DType::kQ8_0, x, 1, kQK, nullptr, &ref).ok());
  EXPECT_EQ(ref.qs[1], 1);
}

TEST(ActQuant, AllZeroBlock) {
  for (float z : {0.0f, -0.0f}) {
    float x[kQK];
    std::fill(x, x + kQK, z);
    const Both b = Quantize(x);
    EXPECT_EQ(b.q0.d, 0);
    EXPECT_EQ(b.q1.s, 0);
    for (int j = 0; j < kQK; ++j) EXPECT_EQ(b.q0.qs[j], 0) << j;
  }
}

// amax below 127 / FLT_MAX: the multiplier overflows to infinity, every
// product (0 * inf included) is NaN or infinite, vcvtps2dq gives INT32_MIN and
// the packs saturate it to -128. The 32 INT32_MIN wrap to a sum of 0, so s = 0;
// d is an f32 subnormal that rounds to fp16 zero.
TEST(ActQuant, OverflowingMultiplier) {
  float x[kQK] = {};
  x[0] = 1e-38f;
  x[1] = -1e-38f;
  ASSERT_TRUE(std::isinf(127.0f / x[0]));
  const Both b = Quantize(x);
  EXPECT_EQ(b.q0.d, 0);
  EXPECT_EQ(b.q1.s, 0);
  for (int j = 0; j < kQK; ++j) EXPECT_EQ(b.q0.qs[j], -128) << j;
}

// The inputs of quant/testing/act_quant_digests.py (keep the two in step).
std::vector<float> ActQuantInputs() {
  constexpr int K = 512;
  const std::vector<float> spec = testing::SpecMatrix();  // 4 x 512
  std::vector<float> x(spec);
  auto row = [&](int r) { return spec.begin() + r * K; };
  std::vector<float> ties(K);
  for (int b = 0; b < K / 32; ++b) {
    const float sc = std::ldexp(1.0f, b - 8);
    for (int j = 0; j < 32; ++j) {
      float v;
      if (j == 0) {
        v = 127.0f * sc;
        if (b % 2) v = -v;
      } else {
        v = (static_cast<float>((j * 37 + b * 11) % 254 - 127) + 0.5f) * sc;
      }
      ties[32 * b + j] = v;
    }
  }
  x.insert(x.end(), ties.begin(), ties.end());
  for (int k = 0; k < K; ++k) x.push_back(row(0)[k] * 1e-3f);
  for (int k = 0; k < K; ++k) x.push_back(row(1)[k] * 3.0e4f);
  for (int k = 0; k < K; ++k) x.push_back((k / 32) % 4 == 0 ? 0.0f : row(2)[k] * 1e-37f);
  std::vector<float> mixed(K, 0.0f);
  for (int b = 0; b < K / 32; ++b) {
    if (b % 3 == 1) mixed[32 * b + b % 32] = 5.0f;
    if (b % 3 == 2) std::fill(mixed.begin() + 32 * b, mixed.begin() + 32 * b + 32, -0.25f);
  }
  x.insert(x.end(), mixed.begin(), mixed.end());
  for (int k = 0; k < K; ++k) x.push_back(std::nearbyint(row(3)[k] * 512.0f) / 8.0f);
  return x;
}

// Digests printed by act_quant_digests.py with llama-cpp-python 0.3.36's
// libggml-cpu (ggml 0.25.3; it reports avx avx2 f16c avx512 avx512_vnni, and
// quantize_row_q8_0/q8_1 have no AVX512 variant, so this is the AVX2 path).
TEST(ActQuant, MatchesGgmlCpuX86) {
  const std::vector<float> x = ActQuantInputs();
  ASSERT_EQ(x.size(), 10u * 512);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<BlockQ8_0> q0(n / kQK);
  std::vector<BlockQ8_1> q1(n / kQK);
  QuantizeActQ8_0(x.data(), q0.data(), n);
  QuantizeActQ8_1(x.data(), q1.data(), n);
  EXPECT_EQ(testing::Sha256Hex(q0.data(), q0.size() * sizeof(BlockQ8_0)),
            "ba28339ff36c0c6b29312b181811750a013ee974af77e66b1faf46a3c229c845");
  EXPECT_EQ(testing::Sha256Hex(q1.data(), q1.size() * sizeof(BlockQ8_1)),
            "4007feb85a2cd76dedb4e492e2692017441e25dfde50816f317b6e392acd140f");
}

}  // namespace
}  // namespace sov
