// Q4_0 / Q4_1 / Q5_0 / Q5_1 reference quantizers (llama-quant's fallbacks for
// rows that are a multiple of 32 but not of 256, spec quantization.md §12.6).
//
// The digests are of ggml's own ggml_quantize_chunk output on the §14.4
// matrix, computed with the libggml-base of llama-cpp-python 0.3.36 (ggml
// 0.25.3, no importance matrix). The same oracle also agreed byte for byte on
// Gaussian rows with scales 1e-5..3e3, values on a 1/8 grid (rounding ties),
// sparse rows, constant blocks (0, ±1, 3e-8, -65000) and 1e-20 values.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quant/quantize.h"
#include "quant/testing/sha256.h"
#include "quant/testing/spec_data.h"

namespace sov {
namespace {

struct Digest {
  DType type;
  const char* sha256;
};

TEST(LegacyQuant, SpecMatrixMatchesGgml) {
  const std::vector<float> x = testing::SpecMatrix();
  const Digest digests[] = {
      {DType::kQ4_0, "9db9e082aaa42b64ab185d39c07fe95aa9614817bd9f254dc9fe464b57e9dc2e"},
      {DType::kQ4_1, "138c1bffd0c37aab782972cdc3d3196770c7df8681f8d649d534f07d6c902d27"},
      {DType::kQ5_0, "94a8a6aaa308ba6d61d33788d3c9c8cdb319b7a3dff844814f2921d05ccdcdbc"},
      {DType::kQ5_1, "3d46f77ffc8467a130b101435b8c6b0309c9293ebc64d38b75bc1014d0d6fc43"},
  };
  for (const Digest& d : digests) {
    SCOPED_TRACE(std::string(Name(d.type)));
    ASSERT_TRUE(CanQuantize(d.type));
    std::vector<uint8_t> out(RowBytes(d.type, 512) * 4);
    ASSERT_TRUE(QuantizeRows(d.type, x.data(), 4, 512, nullptr, out.data()).ok());
    EXPECT_EQ(testing::Sha256Hex(out.data(), out.size()), d.sha256);
  }
}

// Hand-derived: 32 values of +1. Q5_0: max = 1, d = -1/16 (fp16 0xAC00),
// every x * id + 16.5 = 0.5 -> level 0. Q4_1: max == min, d = 0, m = 1.
TEST(LegacyQuant, ConstantBlock) {
  const std::vector<float> x(32, 1.0f);
  std::vector<uint8_t> q5(22), q41(20);
  ASSERT_TRUE(QuantizeRows(DType::kQ5_0, x.data(), 1, 32, nullptr, q5.data()).ok());
  EXPECT_EQ(q5[0], 0x00);
  EXPECT_EQ(q5[1], 0xAC);
  for (size_t i = 2; i < q5.size(); ++i) EXPECT_EQ(q5[i], 0) << i;
  ASSERT_TRUE(QuantizeRows(DType::kQ4_1, x.data(), 1, 32, nullptr, q41.data()).ok());
  EXPECT_EQ(q41[0], 0x00);  // d = 0
  EXPECT_EQ(q41[1], 0x00);
  EXPECT_EQ(q41[2], 0x00);  // m = 1.0 = fp16 0x3C00
  EXPECT_EQ(q41[3], 0x3C);
}

TEST(LegacyQuant, RoundTripErrorWithinTheStep) {
  std::vector<float> x(4 * 96);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + i % 5);
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1}) {
    SCOPED_TRACE(std::string(Name(t)));
    std::vector<uint8_t> q(RowBytes(t, 96) * 4);
    ASSERT_TRUE(QuantizeRows(t, x.data(), 4, 96, nullptr, q.data()).ok());
    std::vector<float> y(x.size());
    for (int r = 0; r < 4; ++r) DequantizeRow(t, q.data() + r * RowBytes(t, 96), y.data() + r * 96, 96);
    const float levels = (t == DType::kQ4_0 || t == DType::kQ4_1) ? 15.0f : 31.0f;
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float mn = x[b * 32], mx = x[b * 32];
      for (int j = 0; j < 32; ++j) mn = std::min(mn, x[b * 32 + j]), mx = std::max(mx, x[b * 32 + j]);
      const bool asym = t == DType::kQ4_1 || t == DType::kQ5_1;
      // Asymmetric: levels steps over [min, max], rounding error <= half a step.
      // Symmetric: d = max / -(levels+1)/2 puts the signed extreme on the
      // bottom level exactly; the opposite extreme lands one step past the top
      // level and is clamped, so the bound there is a whole step.
      const float amax = std::max(std::fabs(mn), std::fabs(mx));
      const float step = asym ? (mx - mn) / levels : 2.0f * amax / (levels + 1.0f);
      const float bound = (asym ? 0.5f : 1.0f) * step * 1.01f + 2e-3f;  // + fp16 rounding of d (and m)
      for (int j = 0; j < 32; ++j)
        EXPECT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), bound) << b << " " << j;
    }
  }
}

TEST(LegacyQuant, ImportanceMatrixIsRefused) {
  std::vector<float> x(32, 0.5f), w(32, 1.0f);
  std::vector<uint8_t> q(22);
  const absl::Status s = QuantizeRows(DType::kQ5_0, x.data(), 1, 32, w.data(), q.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(std::string(s.message()).find("q5_0"), std::string::npos);
}

}  // namespace
}  // namespace sov
