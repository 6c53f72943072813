// Dequantization layouts, ggml's accuracy criteria (spec quantization.md §9,
// ggml tests/test-quantize-fns.cpp) and the QuantizeRows error paths.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quant/blocks.h"
#include "quant/float16.h"
#include "quant/quantize.h"

namespace sov {
namespace {

std::vector<uint8_t> Quantize(DType t, const std::vector<float>& x, int64_t rows, int64_t cols,
                              const float* qw = nullptr) {
  std::vector<uint8_t> out(RowBytes(t, cols) * static_cast<size_t>(rows));
  const absl::Status s = QuantizeRows(t, x.data(), rows, cols, qw, out.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<float> Dequantize(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  DequantizeRow(t, q.data(), y.data(), n);
  return y;
}

// ggml's metric: sqrt(sum of squared differences) / n.
double GgmlRmse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return std::sqrt(sum) / static_cast<double>(a.size());
}

class RoundTrip : public ::testing::TestWithParam<DType> {};

// ggml accepts a quantization error below 0.002 on 0.1 + 2cos(i + offset).
TEST_P(RoundTrip, WithinGgmlTolerance) {
  const DType t = GetParam();
  constexpr int64_t n = 4096;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = 0.1f + 2 * std::cos(static_cast<float>(i) + 0.5f);
  std::vector<float> qw(n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.1f, 4.0f);
  for (float& w : qw) w = u(rng);
  for (const float* imatrix : {static_cast<const float*>(nullptr), static_cast<const float*>(qw.data())}) {
    const std::vector<float> y = Dequantize(t, Quantize(t, x, 1, n, imatrix), n);
    EXPECT_LT(GgmlRmse(x, y), 0.002) << Name(t) << (imatrix ? " with imatrix" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Types, RoundTrip,
                         ::testing::Values(DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K,
                                           DType::kQ5_K, DType::kQ6_K, DType::kQ8_K),
                         [](const auto& info) { return std::string(Name(info.param)); });

// More bits, less error; an importance matrix lowers the weighted error it is given.
TEST(RoundTrip, ErrorOrderAndImatrixEffect) {
  constexpr int64_t n = 256 * 64;
  std::vector<float> x(n);
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float& v : x) v = g(rng);
  auto rmse = [&](DType t, const float* qw) {
    return GgmlRmse(x, Dequantize(t, Quantize(t, x, 64, 256, qw), n));
  };
  const double e4 = rmse(DType::kQ4_K, nullptr), e5 = rmse(DType::kQ5_K, nullptr);
  const double e6 = rmse(DType::kQ6_K, nullptr), e8 = rmse(DType::kQ8_0, nullptr);
  EXPECT_GT(e4, e5);
  EXPECT_GT(e5, e6);
  EXPECT_GT(e6, e8);

  // Importance concentrated on the first 16 columns of each super-block.
  std::vector<float> qw(256, 0.01f);
  for (int c = 0; c < 16; ++c) qw[c] = 100.0f;
  auto weighted_err = [&](DType t, const float* w) {
    const std::vector<float> y = Dequantize(t, Quantize(t, x, 64, 256, w), n);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(x[i]) - y[i];
      s += qw[i % 256] * d * d;
    }
    return s;
  };
  for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    EXPECT_LT(weighted_err(t, qw.data()), weighted_err(t, nullptr)) << Name(t);
  }
}

// Dequantizers against a per-element decoding written from the layout tables
// (spec §4–§8, and ggml-common.h for the legacy types) on random block bytes.
uint16_t RandomFiniteHalf(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  return Fp32ToFp16(u(rng) * 0.01f);
}

float ElementQ4K(const uint8_t* b, int e) {
  const float d = Fp16ToFp32(static_cast<uint16_t>(b[0] | b[1] << 8));
  const float dmin = Fp16ToFp32(static_cast<uint16_t>(b[2] | b[3] << 8));
  uint8_t sc, m;
  GetScaleMinK4(e / 32, b + 4, &sc, &m);
  const int g = e / 64, l = e % 32;
  const uint8_t byte = b[16 + 32 * g + l];
  const int q = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
  return (d * sc) * q - (dmin * m);
}

float ElementQ5K(const uint8_t* b, int e) {
  const float d = Fp16ToFp32(static_cast<uint16_t>(b[0] | b[1] << 8));
  const float dmin = Fp16ToFp32(static_cast<uint16_t>(b[2] | b[3] << 8));
  uint8_t sc, m;
  GetScaleMinK4(e / 32, b + 4, &sc, &m);
  const int g = e / 64, l = e % 32;
  const uint8_t byte = b[48 + 32 * g + l];
  const int low = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
  const int high = (b[16 + l] >> (e / 32)) & 1;
  return (d * sc) * (low + 16 * high) - (dmin * m);
}

float ElementQ6K(const uint8_t* b, int e) {
  const int h = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
  const uint8_t lo_byte = b[64 * h + (quarter % 2) * 32 + l];
  const int low = quarter < 2 ? (lo_byte & 0xF) : (lo_byte >> 4);
  const int high = (b[128 + 32 * h + l] >> (2 * quarter)) & 3;
  const int u = low | (high << 4);
  const float d = Fp16ToFp32(static_cast<uint16_t>(b[208] | b[209] << 8));
  const int8_t scale = static_cast<int8_t>(b[192 + e / 16]);
  return (d * scale) * (u - 32);
}

TEST(Dequantize, MatchesLayoutTablesOnRandomBytes) {
  std::mt19937 rng(5);
  struct Case {
    DType t;
    float (*element)(const uint8_t*, int);
    int half_offsets[2];  // byte offsets of fp16 fields to make finite
  };
  const Case cases[] = {{DType::kQ4_K, ElementQ4K, {0, 2}},
                        {DType::kQ5_K, ElementQ5K, {0, 2}},
                        {DType::kQ6_K, ElementQ6K, {208, 208}}};
  for (const Case& c : cases) {
    const size_t bytes = static_cast<size_t>(TypeSize(c.t)) * 4;
    std::vector<uint8_t> q(bytes);
    for (int trial = 0; trial < 50; ++trial) {
      for (uint8_t& v : q) v = static_cast<uint8_t>(rng());
      for (int b = 0; b < 4; ++b) {
        for (int off : c.half_offsets) {
          const uint16_t h = RandomFiniteHalf(rng);
          std::memcpy(&q[b * TypeSize(c.t) + off], &h, 2);
        }
      }
      const std::vector<float> y = Dequantize(c.t, q, 1024);
      for (int e = 0; e < 1024; ++e) {
        const float want = c.element(&q[(e / 256) * TypeSize(c.t)], e % 256);
        ASSERT_EQ(y[e], want) << Name(c.t) << " element " << e;
      }
    }
  }
}

TEST(Dequantize, LegacyAndQ8Layouts) {
  std::mt19937 rng(9);
  std::vector<uint8_t> q(34 * 2);
  for (uint8_t& v : q) v = static_cast<uint8_t>(rng());
  auto set_half = [&](size_t off, uint16_t h) { std::memcpy(&q[off], &h, 2); };
  auto half = [&](size_t off) { return Fp16ToFp32(static_cast<uint16_t>(q[off] | q[off + 1] << 8)); };
  float y[64];

  // Q8_0: d, then 32 int8.
  set_half(0, Fp32ToFp16(0.5f));
  set_half(34, Fp32ToFp16(-0.25f));
  DequantizeRow(DType::kQ8_0, q.data(), y, 64);
  for (int e = 0; e < 64; ++e) {
    ASSERT_EQ(y[e], static_cast<int8_t>(q[(e / 32) * 34 + 2 + e % 32]) * half((e / 32) * 34));
  }
  // Q4_0: element j low nibble of qs[j], j + 16 high nibble, minus 8.
  set_half(0, Fp32ToFp16(0.125f));
  DequantizeRow(DType::kQ4_0, q.data(), y, 32);
  for (int e = 0; e < 32; ++e) {
    const uint8_t b = q[2 + e % 16];
    ASSERT_EQ(y[e], ((e < 16 ? (b & 0xF) : (b >> 4)) - 8) * 0.125f);
  }
  // Q4_1: y = d * nibble + m.
  set_half(2, Fp32ToFp16(-1.5f));
  DequantizeRow(DType::kQ4_1, q.data(), y, 32);
  for (int e = 0; e < 32; ++e) {
    const uint8_t b = q[4 + e % 16];
    ASSERT_EQ(y[e], (e < 16 ? (b & 0xF) : (b >> 4)) * 0.125f + -1.5f);
  }
  // Q5_0: fifth bit of element e is bit e of the 32-bit qh; minus 16.
  DequantizeRow(DType::kQ5_0, q.data(), y, 32);
  uint32_t qh;
  std::memcpy(&qh, &q[2], 4);
  for (int e = 0; e < 32; ++e) {
    const uint8_t b = q[6 + e % 16];
    const int v = (e < 16 ? (b & 0xF) : (b >> 4)) | (((qh >> e) & 1) << 4);
    ASSERT_EQ(y[e], (v - 16) * 0.125f);
  }
  // Q5_1: d, m, qh, qs; y = d * v + m.
  DequantizeRow(DType::kQ5_1, q.data(), y, 32);
  std::memcpy(&qh, &q[4], 4);
  for (int e = 0; e < 32; ++e) {
    const uint8_t b = q[8 + e % 16];
    const int v = (e < 16 ? (b & 0xF) : (b >> 4)) | (((qh >> e) & 1) << 4);
    ASSERT_EQ(y[e], v * 0.125f + -1.5f);
  }
}

TEST(Quantize, Q8KBsumsAndRange) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(512);
  for (float& v : x) v = g(rng);
  const std::vector<uint8_t> q = Quantize(DType::kQ8_K, x, 1, 512);
  for (int b = 0; b < 2; ++b) {
    BlockQ8_K blk;
    std::memcpy(&blk, &q[b * sizeof(BlockQ8_K)], sizeof(blk));
    for (int g16 = 0; g16 < 16; ++g16) {
      int s = 0;
      for (int k = 0; k < 16; ++k) {
        ASSERT_GE(blk.qs[16 * g16 + k], -127);  // -128 never occurs (maddubs bound, §9)
        s += blk.qs[16 * g16 + k];
      }
      EXPECT_EQ(blk.bsums[g16], s);
    }
  }
}

TEST(Quantize, RowsAreIndependent) {
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(3 * 512), qw(512);
  for (float& v : x) v = g(rng);
  for (float& w : qw) w = std::fabs(g(rng));
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const std::vector<uint8_t> all = Quantize(t, x, 3, 512, qw.data());
    const size_t rb = RowBytes(t, 512);
    for (int r = 0; r < 3; ++r) {
      std::vector<float> row(x.begin() + r * 512, x.begin() + (r + 1) * 512);
      const std::vector<uint8_t> one = Quantize(t, row, 1, 512, qw.data());
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + r * rb, rb)) << Name(t) << " row " << r;
    }
  }
}

// Spec §14.5 adversarial blocks: the bytes must stay meaningful.
TEST(Quantize, AdversarialBlocks) {
  // A single non-zero value survives in every format; the zeros stay exact.
  std::vector<float> x(256, 0.0f);
  x[77] = 3.0f;
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const std::vector<float> y = Dequantize(t, Quantize(t, x, 1, 256), 256);
    EXPECT_NEAR(y[77], 3.0f, 0.05f) << Name(t);
    for (int i = 0; i < 256; ++i) {
      if (i != 77) ASSERT_EQ(y[i], 0.0f) << Name(t) << " element " << i;
    }
  }
  // Mixed magnitudes: a sub-block 1e5 times smaller than the largest gets
  // sc = 0 in Q4_K, and dequantizes to (nearly) its min rather than garbage.
  for (int i = 0; i < 256; ++i) x[i] = (i < 32) ? static_cast<float>(i) : 1e-5f * (i % 7);
  const std::vector<float> y = Dequantize(DType::kQ4_K, Quantize(DType::kQ4_K, x, 1, 256), 256);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(y[i], x[i], 1.2f);
  for (int i = 32; i < 256; ++i) EXPECT_NEAR(y[i], 0.0f, 1e-3f);
}

TEST(Quantize, Errors) {
  std::vector<float> x(512, 1.0f);
  std::vector<uint8_t> out(4096);
  absl::Status s = QuantizeRows(DType::kQ4_0, x.data(), 1, 48, nullptr, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("q4_0"), std::string::npos) << s;
  s = QuantizeRows(DType::kI32, x.data(), 1, 512, nullptr, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = QuantizeRows(DType::kQ4_K, x.data(), 1, 320, nullptr, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("320"), std::string::npos) << s;
  std::vector<float> qw(512, 1.0f);
  qw[17] = std::nanf("");
  s = QuantizeRows(DType::kQ6_K, x.data(), 1, 512, qw.data(), out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("column 17"), std::string::npos) << s;
  EXPECT_TRUE(QuantizeRows(DType::kQ8_0, x.data(), 1, 512, qw.data(), out.data()).ok())
      << "Q8_0 ignores the importance matrix";
  EXPECT_TRUE(CanDequantize(DType::kQ5_1));
  EXPECT_TRUE(CanQuantize(DType::kQ5_1));  // reference path (quant/legacy_quantize.cc)
  EXPECT_FALSE(CanQuantize(DType::kI32));
}

}  // namespace
}  // namespace sov
