// The test vectors of spec quantization.md §14, byte for byte.
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quant/blocks.h"
#include "quant/quantize.h"
#include "quant/testing/sha256.h"
#include "quant/testing/spec_data.h"

namespace sov {
namespace {

using testing::FromHex;
using testing::Sha256Hex;

std::vector<uint8_t> Quantize(DType t, const std::vector<float>& x, int64_t rows, int64_t cols,
                              const float* imatrix = nullptr) {
  std::vector<uint8_t> out(RowBytes(t, cols) * static_cast<size_t>(rows), 0xCD);
  const absl::Status s = QuantizeRows(t, x.data(), rows, cols, imatrix, out.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<uint8_t> Repeat(const std::vector<uint8_t>& head, uint8_t fill, size_t count) {
  std::vector<uint8_t> v = head;
  v.insert(v.end(), count, fill);
  return v;
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> v;
  for (const auto& p : parts) v.insert(v.end(), p.begin(), p.end());
  return v;
}

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(Sha256Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(Sha256Hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// §14.2: one super-block of 256 equal values.
TEST(SpecVectors, AllZeros) {
  const std::vector<float> x(256, 0.0f);
  EXPECT_EQ(Quantize(DType::kQ8_0, x, 1, 256), std::vector<uint8_t>(8 * 34, 0));
  EXPECT_EQ(Quantize(DType::kQ4_K, x, 1, 256), std::vector<uint8_t>(144, 0));
  EXPECT_EQ(Quantize(DType::kQ5_K, x, 1, 256), std::vector<uint8_t>(176, 0));
  EXPECT_EQ(Quantize(DType::kQ6_K, x, 1, 256), std::vector<uint8_t>(210, 0));
  const std::vector<uint8_t> q8k = Quantize(DType::kQ8_K, x, 1, 256);
  EXPECT_EQ(std::vector<uint8_t>(q8k.begin(), q8k.begin() + 260), std::vector<uint8_t>(260, 0));
}

TEST(SpecVectors, AllPlusOne) {
  const std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> q8_block = Repeat(FromHex("08 20"), 0x7f, 32);
  std::vector<uint8_t> q8;
  for (int i = 0; i < 8; ++i) q8.insert(q8.end(), q8_block.begin(), q8_block.end());
  EXPECT_EQ(Quantize(DType::kQ8_0, x, 1, 256), q8);

  const std::vector<uint8_t> scales = FromHex("ff ff ff ff 00 00 00 00 0f 0f 0f 0f");
  EXPECT_EQ(Quantize(DType::kQ4_K, x, 1, 256),
            Concat({FromHex("56 14 00 00"), scales, std::vector<uint8_t>(128, 0xff)}));
  EXPECT_EQ(Quantize(DType::kQ5_K, x, 1, 256),
            Concat({FromHex("32 10 00 00"), scales, std::vector<uint8_t>(32 + 128, 0xff)}));
  EXPECT_EQ(Quantize(DType::kQ6_K, x, 1, 256),
            Concat({std::vector<uint8_t>(192, 0), std::vector<uint8_t>(16, 0x80), FromHex("00 0c")}));
  std::vector<uint8_t> bsums;
  for (int i = 0; i < 16; ++i) bsums.insert(bsums.end(), {0x10, 0xf8});
  EXPECT_EQ(Quantize(DType::kQ8_K, x, 1, 256),
            Concat({FromHex("04 02 01 bc"), std::vector<uint8_t>(256, 0x81), bsums}));
}

TEST(SpecVectors, AllMinusOne) {
  const std::vector<float> x(256, -1.0f);
  std::vector<uint8_t> q8_block = Repeat(FromHex("08 20"), 0x81, 32);
  std::vector<uint8_t> q8;
  for (int i = 0; i < 8; ++i) q8.insert(q8.end(), q8_block.begin(), q8_block.end());
  EXPECT_EQ(Quantize(DType::kQ8_0, x, 1, 256), q8);

  const std::vector<uint8_t> scales = FromHex("00 00 00 00 ff ff ff ff f0 f0 f0 f0");
  EXPECT_EQ(Quantize(DType::kQ4_K, x, 1, 256),
            Concat({FromHex("00 00 10 24"), scales, std::vector<uint8_t>(128, 0)}));
  EXPECT_EQ(Quantize(DType::kQ5_K, x, 1, 256),
            Concat({FromHex("00 00 10 24"), scales, std::vector<uint8_t>(32 + 128, 0)}));
  EXPECT_EQ(Quantize(DType::kQ6_K, x, 1, 256),
            Concat({std::vector<uint8_t>(192, 0), std::vector<uint8_t>(16, 0x80), FromHex("00 8c")}));
  std::vector<uint8_t> bsums;
  for (int i = 0; i < 16; ++i) bsums.insert(bsums.end(), {0x10, 0xf8});
  EXPECT_EQ(Quantize(DType::kQ8_K, x, 1, 256),
            Concat({FromHex("04 02 01 3c"), std::vector<uint8_t>(256, 0x81), bsums}));
}

// The dequantized values quoted next to the §14.2 vectors.
TEST(SpecVectors, EqualValueBlocksDequantize) {
  const std::vector<float> ones(256, 1.0f), minus(256, -1.0f);
  float y[256];
  std::vector<uint8_t> q = Quantize(DType::kQ6_K, ones, 1, 256);
  DequantizeRow(DType::kQ6_K, q.data(), y, 256);
  for (float v : y) ASSERT_EQ(v, 1.0f);
  q = Quantize(DType::kQ4_K, ones, 1, 256);
  DequantizeRow(DType::kQ4_K, q.data(), y, 256);
  for (float v : y) ASSERT_NEAR(v, 1.00036f, 1e-5f);
  q = Quantize(DType::kQ4_K, minus, 1, 256);
  DequantizeRow(DType::kQ4_K, q.data(), y, 256);
  for (float v : y) ASSERT_NEAR(v, -0.99976f, 1e-5f);
}

// §14.3: sub-block 1 gets sc = m = 0 but keeps the levels of its first fit.
TEST(SpecVectors, Q4KKeptLevels) {
  std::vector<float> x(256, 0.0f);
  for (int l = 0; l < 32; ++l) {
    x[l] = static_cast<float>(l - 16) * 6.25f;
    x[32 + l] = static_cast<float>(l - 16) * 0.0001f;
  }
  const std::vector<uint8_t> q = Quantize(DType::kQ4_K, x, 1, 256);
  EXPECT_EQ(std::vector<uint8_t>(q.begin(), q.begin() + 16),
            FromHex("5b 32 28 3e 3f 00 00 00 3f 00 00 00 00 00 00 00"));
  EXPECT_EQ(std::vector<uint8_t>(q.begin() + 16, q.begin() + 48),
            FromHex("00 00 11 11 22 22 33 33 44 44 55 55 66 66 77 77 88 88 99 99 aa aa bb bb cc cc "
                    "dd dd ee ee ff ff"));
}

TEST(SpecVectors, MatrixInputMatchesSpec) {
  const std::vector<float> x = testing::SpecMatrix();
  uint32_t bits;
  std::memcpy(&bits, &x[0], 4);
  EXPECT_EQ(bits, 0xbf758dc8u);
  EXPECT_FLOAT_EQ(x[1], -0.966904402f);
  EXPECT_FLOAT_EQ(x[2], 0.0863115788f);
  EXPECT_FLOAT_EQ(x[3], 0.269808054f);
}

struct DigestCase {
  DType type;
  bool imatrix;
  size_t bytes;
  const char* sha256;
};

class SpecMatrixDigest : public ::testing::TestWithParam<DigestCase> {};

// §14.4: SHA-256 of ggml_quantize_chunk's output on the 4 x 512 matrix.
TEST_P(SpecMatrixDigest, Matches) {
  const DigestCase& c = GetParam();
  const std::vector<float> x = testing::SpecMatrix();
  const std::vector<float> qw = testing::SpecImatrix();
  const std::vector<uint8_t> q = Quantize(c.type, x, 4, 512, c.imatrix ? qw.data() : nullptr);
  ASSERT_EQ(q.size(), c.bytes);
  EXPECT_EQ(Sha256Hex(q.data(), q.size()), c.sha256);
}

INSTANTIATE_TEST_SUITE_P(
    All, SpecMatrixDigest,
    ::testing::Values(
        DigestCase{DType::kF16, false, 4096, "7196a622c34bc75e1666cb0ece2c2d4de42ac0424e2ca99a004d05f9ad276e7a"},
        DigestCase{DType::kBF16, false, 4096, "fc71e7c5ec4fc757635f78f120e3a091353b77bb39c3d77bcfaa353260441644"},
        DigestCase{DType::kQ8_0, false, 2176, "cb6a7de8302a7d992baf8e3457fa414a00829d5a2813156d8e411b03a145a8ff"},
        // Q8_0 ignores the importance matrix.
        DigestCase{DType::kQ8_0, true, 2176, "cb6a7de8302a7d992baf8e3457fa414a00829d5a2813156d8e411b03a145a8ff"},
        DigestCase{DType::kQ4_K, false, 1152, "1319e4adc33a29ae3a96a6eac610bb6862ec8ef84c99c7ab51f0a7946dbc2f1a"},
        DigestCase{DType::kQ4_K, true, 1152, "10d9efb6d85699ed128119549e06d0af3b3c3c3bc012aa2a631bc3a8c73ada66"},
        DigestCase{DType::kQ5_K, false, 1408, "1b87f764e10626de1c1068b43b0409c52189ff58769db699197d733c5a432866"},
        DigestCase{DType::kQ5_K, true, 1408, "fe80a66e0d856f094700d9ef83fb0d349f4b989fd3b0a542d22bac0260a5ece6"},
        DigestCase{DType::kQ6_K, false, 1680, "ada4c6d793bc82a0c07aaf95347fab8064035867c55ed213a52fab993efa1f03"},
        DigestCase{DType::kQ6_K, true, 1680, "d677351062434c7a376e538d8630d5f0e5457ac1baf6b226677966f4fda6c1f7"},
        DigestCase{DType::kQ8_K, false, 2336, "365116c73018cd8ddfb65cb370d550d29ea2441048dc939728ca8b85a3ce015b"}));

TEST(SpecVectors, FirstBlocks) {
  const std::vector<float> x = testing::SpecMatrix();
  const std::vector<float> qw = testing::SpecImatrix();
  std::vector<uint8_t> q = Quantize(DType::kQ4_K, x, 4, 512);
  EXPECT_EQ(std::vector<uint8_t>(q.begin(), q.begin() + 144),
            FromHex("3b180e24fdfbf2febcfcf2fcf5ef5ffd704098fa0ec15758f99cb0abaf21fbc7"
                    "76cf56bf9fca763874b68ae261fdc5204bc5b55d2d41d066cfbc18b3d68f3ee5"
                    "6e3ba8cffa0fa50d5e108aeaf0495fe05e319b0915d44fec1a5686073424cf35"
                    "00599a66adb020199829661648c44980d485daaac1b9fe70d205bc1de5289592"
                    "e23a9acce425359e71579e8ab3945955"));
  q = Quantize(DType::kQ4_K, x, 4, 512, qw.data());
  EXPECT_EQ(std::vector<uint8_t>(q.begin(), q.begin() + 144),
            FromHex("49180d24fffaf2fdbcfcf2fcf4d959fd704098f90dc15758f99cb0abae21fac7"
                    "76ce56be9fca763774b68ae261fdc4204bc5b56d2d41d066cfbc18b3d58f3ee5"
                    "6e3ba8cffa0fa50d5e108aeaf0495fe05e319b0915e44ffc1a6696073524df35"
                    "0059aa66bdc02019a829661648d44990d486dbabc1baff70d305bd1ee6299692"
                    "e23b9bcde426359f71589f8bb4944a55"));
  q = Quantize(DType::kQ6_K, x, 4, 512);
  EXPECT_EQ(std::vector<uint8_t>(q.begin(), q.begin() + 210),
            FromHex("f04043899b560083f63331b07ff4ad5d7723e633611695b08de57586daaa3cef"
                    "fe52257e80f2d3845e131b2aa85aacf1632f5dc01afc64e69383fe6428c0ae5b"
                    "c5651109856a00ae1673814158aa6228302a1e9ccd52712966eb1c2dd6b44b71"
                    "641c659107e7d0ea6607c3318e7a315f209586c80ccf97b537d789f411a211c2"
                    "24d4da7e330cc656fefb28cbdbb03edd8ad05a0414c16ace8af655133b90823f"
                    "e4a3d991f29ec47cf1268a02e212acb230d65a052be8e042ba924551666dd6a8"
                    "78827a966094698089607f7985837b9b1c0c"));
  q = Quantize(DType::kQ8_K, x, 1, 2048);
  EXPECT_EQ(std::vector<uint8_t>(q.begin(), q.begin() + 36),
            FromHex("1ffd00bc 7a7bf5de986201f4e8b875c28a6ccd0a1a8b188d83d614003613d358 68a6307d"));
}

}  // namespace
}  // namespace sov
