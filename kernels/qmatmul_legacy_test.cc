// Integer MatMul for Q4_0 / Q5_0 / Q4_1 / Q5_1 (and Q8_0, whose activations
// share the x86 Q8_0 quantizer): bitwise against ref::QuantMatMul with the
// VNNI kernels on and off, on Gemma 3 270M's widths; an accuracy bound against
// the decoded weights derived from the activation rounding; and the Gemma 3
// 270M projection shapes taking the integer path.
#include "kernels/cpu/qmatmul_legacy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/reference/reference.h"
#include "kernels/qmatrix_test_util.h"
#include "kernels/test_util.h"
#include "quant/act_quant.h"
#include "quant/float16.h"
#include "quant/quantize.h"

namespace sov::kernels {
namespace {

using test_util::kU32;

constexpr DType kLegacy[] = {DType::kQ4_0, DType::kQ5_0, DType::kQ4_1, DType::kQ5_1};

using test_util::QMatrix;
using test_util::Quantized;
using test_util::RandomBlocks;

// Rows with a wide dynamic range, all zeros, a spike, 1e-30 values, and
// 1e-38 values (127 / amax overflows: the quantizer writes -128 everywhere).
std::vector<float> Activations(int64_t T, int64_t K, uint64_t seed) {
  auto x = test_util::RandomFloats(T * K, seed);
  std::mt19937_64 rng(seed + 99);
  for (int64_t t = 0; t < T; ++t) {
    float* r = x.data() + t * K;
    switch (t % 6) {
      case 1:
        for (int64_t k = 0; k < K; ++k) r[k] *= std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
        break;
      case 2:
        std::fill(r, r + K, 0.0f);
        break;
      case 3:
        r[rng() % K] = 3.0e4f;
        break;
      case 4:
        for (int64_t k = 0; k < K; ++k) r[k] *= 1e-30f;
        break;
      case 5:
        for (int64_t k = 0; k < K; ++k) r[k] *= 1e-38f;
        break;
    }
  }
  return x;
}

void ExpectBitwise(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
}

class QMatMulLegacyTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !internal::QMatMulVnniAvailable()) GTEST_SKIP() << "no AVX512-VNNI here";
    internal::SetQMatMulVnniEnabled(GetParam());
    SetQuantMatMulMode(QuantMatMulMode::kInteger);
  }
  void TearDown() override { internal::SetQMatMulVnniEnabled(true); }
};

TEST_P(QMatMulLegacyTest, BitwiseEqualsReference) {
  ASSERT_EQ(internal::QMatMulVnniActive(), GetParam());
  int seed = 100;
  for (DType t : {DType::kQ4_0, DType::kQ5_0, DType::kQ4_1, DType::kQ5_1, DType::kQ8_0}) {
    ASSERT_TRUE(internal::QMatMulSupports(t)) << Name(t);
    for (int64_t K : {640, 1024, 2048}) {
      for (int64_t T : {1, 4, 5, 64}) {
        const int64_t N = T == 64 ? 7 : 33;
        for (bool random_blocks : {false, true}) {
          const QMatrix m =
              random_blocks ? RandomBlocks(t, N, K, ++seed) : Quantized(t, N, K, ++seed);
          const auto x = Activations(T, K, ++seed);
          std::vector<float> y(T * N, -1.0f), yr(T * N, -2.0f);
          MatMul(x.data(), T, K, m.view, y.data(), N);
          ref::QuantMatMul(x.data(), T, K, m.view, yr.data(), N);
          SCOPED_TRACE(testing::Message() << Name(t) << " K=" << K << " T=" << T << " N=" << N
                                          << " random_blocks=" << random_blocks);
          ExpectBitwise(y, yr, "kernel vs reference");
        }
      }
    }
  }
}

// The portable, VNNI and 4-token VNNI row dots agree on every block count (the
// VNNI dots take 8 blocks at a time, then single blocks), not only through
// MatMul.
TEST(QMatMulLegacyCpu, RowDotsAgreeOnEveryBlockCount) {
  if (!internal::QMatMulVnniAvailable()) GTEST_SKIP() << "no AVX512-VNNI here";
  using Dot = float (*)(const void*, const void*, int64_t);
  using Dot4 = void (*)(const void*, const uint8_t*, size_t, int64_t, float*);
  struct Fns {
    DType t;
    Dot portable, vnni;
    Dot4 vnni4;
    bool q8_1;
  };
  const Fns fns[] = {
      {DType::kQ4_0, internal::RowDotQ4_0, internal::RowDotQ4_0Vnni, internal::RowDotQ4_0Vnni4,
       false},
      {DType::kQ5_0, internal::RowDotQ5_0, internal::RowDotQ5_0Vnni, internal::RowDotQ5_0Vnni4,
       false},
      {DType::kQ4_1, internal::RowDotQ4_1, internal::RowDotQ4_1Vnni, internal::RowDotQ4_1Vnni4,
       true},
      {DType::kQ5_1, internal::RowDotQ5_1, internal::RowDotQ5_1Vnni, internal::RowDotQ5_1Vnni4,
       true},
  };
  for (const Fns& f : fns) {
    for (int64_t nb = 1; nb <= 19; ++nb) {
      const int64_t K = nb * kQK;
      const QMatrix m = RandomBlocks(f.t, 1, K, 7 * nb);
      const auto x = Activations(4, K, 11 * nb + 1);
      const internal::ActFormat af =
          f.q8_1 ? internal::ActFormat::kQ8_1 : internal::ActFormat::kQ8_0;
      const size_t arow = internal::ActRowBytes(af, K);
      std::vector<uint8_t> act(4 * arow);
      for (int t = 0; t < 4; ++t)
        internal::QuantizeActRow(af, x.data() + t * K, K, act.data() + t * arow);
      float four[4];
      f.vnni4(m.view.row(0), act.data(), arow, nb, four);
      for (int t = 0; t < 4; ++t) {
        const float a = f.portable(m.view.row(0), act.data() + t * arow, nb);
        const float b = f.vnni(m.view.row(0), act.data() + t * arow, nb);
        SCOPED_TRACE(testing::Message() << Name(f.t) << " nb=" << nb << " t=" << t);
        EXPECT_EQ(std::memcmp(&a, &b, 4), 0) << a << " vs " << b;
        EXPECT_EQ(std::memcmp(&a, &four[t], 4), 0) << a << " vs " << four[t];
      }
    }
  }
}

// The activation row layout of qmatmul.h: ggml blocks first (the bytes of
// quant/'s x86 quantizers), then the widened d table and the qsum (Q8_0) or
// widened s (Q8_1) table at ActTablesOffset; nothing else in ActRowBytes.
TEST(QMatMulLegacyCpu, ActivationRowTables) {
  for (int64_t K : {32, 96, 640}) {
    const int64_t nb = K / kQK;
    const auto x = Activations(1, K, 5 + K);
    for (bool q8_1 : {false, true}) {
      const internal::ActFormat f = q8_1 ? internal::ActFormat::kQ8_1 : internal::ActFormat::kQ8_0;
      const size_t bb = q8_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
      const size_t off = internal::ActTablesOffset(bb, nb);
      ASSERT_GE(off, nb * bb);
      ASSERT_EQ(off % 4, 0u);
      ASSERT_EQ(internal::ActRowBytes(f, K), off + 8 * nb);
      std::vector<uint8_t> row(internal::ActRowBytes(f, K));
      internal::QuantizeActRow(f, x.data(), K, row.data());
      std::vector<uint8_t> blocks(nb * bb);
      if (q8_1) {
        QuantizeActQ8_1(x.data(), reinterpret_cast<BlockQ8_1*>(blocks.data()), K);
      } else {
        QuantizeActQ8_0(x.data(), reinterpret_cast<BlockQ8_0*>(blocks.data()), K);
      }
      ASSERT_EQ(0, std::memcmp(row.data(), blocks.data(), blocks.size())) << "K=" << K;
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* blk = blocks.data() + i * bb;
        uint16_t d16, s16;
        std::memcpy(&d16, blk, 2);
        std::memcpy(&s16, blk + 2, 2);
        float d, second;
        std::memcpy(&d, row.data() + off + 4 * i, 4);
        std::memcpy(&second, row.data() + off + 4 * (nb + i), 4);
        EXPECT_EQ(d, Fp16ToFp32(d16)) << "K=" << K << " block " << i;
        if (q8_1) {
          EXPECT_EQ(second, Fp16ToFp32(s16)) << "K=" << K << " block " << i;
        } else {
          const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
          int32_t sum = 0, got;
          for (int j = 0; j < kQK; ++j) sum += qs[j];
          std::memcpy(&got, &second, 4);
          EXPECT_EQ(got, sum) << "K=" << K << " block " << i;
        }
      }
    }
  }
}

// Per block b with weight scale dw, min m (0 for the _0 types) and signed
// levels u'_e: y - exact = sum_b [dw sum_e u'_e (da q_e - x_e) + m (s - sum_e x_e)].
// For the x86 quantizer |da q_e - x_e| <= (0.5 + 127 * 2^-11 + tiny) d_b
// < 0.6 d_b with d_b = amax_b / 127, and |s - sum_e x_e| <= 32 * 0.6 d_b plus
// s's own fp16 rounding (<= 2^-11 |s|, |s| <= 32 amax_b) and f32 rounding; the
// float steps add at most (2 nb + K + 4) u of the magnitudes.
TEST_P(QMatMulLegacyTest, CloseToExactDot) {
  for (DType t : kLegacy) {
    const int64_t T = 3, N = 16, K = 640, nb = K / kQK;
    const QMatrix m = Quantized(t, N, K, 21);
    const auto x = test_util::RandomFloats(T * K, 22);
    std::vector<float> y(T * N);
    MatMul(x.data(), T, K, m.view, y.data(), N);
    const bool has_min = t == DType::kQ4_1 || t == DType::kQ5_1;
    const bool five = t == DType::kQ5_0 || t == DType::kQ5_1;
    const int offset = has_min ? 0 : (five ? 16 : 8);
    const size_t bb = RowBytes(t, kQK);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t tt = 0; tt < T; ++tt) {
        const float* xr = x.data() + tt * K;
        double exact = 0, err = 0, mag = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = m.view.row(n) + bb * b;
          uint16_t dbits, mbits = 0;
          std::memcpy(&dbits, blk, 2);
          if (has_min) std::memcpy(&mbits, blk + 2, 2);
          const double dw = Fp16ToFp32(dbits), mn = Fp16ToFp32(mbits);
          const uint8_t* qh = five ? blk + (has_min ? 4 : 2) : nullptr;
          const uint8_t* qs = blk + (has_min ? 4 : 2) + (five ? 4 : 0);
          double amax = 0, sum_ax = 0;
          for (int e = 0; e < kQK; ++e) {
            amax = std::max(amax, std::fabs(double{xr[b * kQK + e]}));
            sum_ax += std::fabs(double{xr[b * kQK + e]});
          }
          const double db = amax / 127, dq = 0.6 * db;
          const double s_err = 32 * dq + std::ldexp(32 * amax, -11) + std::ldexp(1.0, -24);
          for (int e = 0; e < kQK; ++e) {
            int u = internal::LegacyLow4(qs, e);
            if (qh) u |= internal::LegacyHigh1(qh, e) << 4;
            const double w = dw * (u - offset);
            exact += (w + mn) * xr[b * kQK + e];
            err += std::fabs(w) * dq;
            mag += std::fabs(w) * (std::fabs(double{xr[b * kQK + e]}) + dq);
          }
          err += std::fabs(mn) * s_err;
          mag += std::fabs(mn) * (sum_ax + s_err);
        }
        const double bound = err + (2 * nb + K + 4) * kU32 * mag;
        EXPECT_LE(std::fabs(y[tt * N + n] - exact), bound) << Name(t) << " n=" << n << " t=" << tt;
        EXPECT_LT(bound, 0.03 * mag) << "bound too loose to mean anything";
      }
    }
  }
}

// Gemma 3 270M (Q4_K_M from llama.cpp) stores attn_q [640 -> 1024], attn_k
// [640 -> 256], ffn_gate / ffn_up [640 -> 2048] as Q5_0 and attn_v as Q8_0.
// MatMul on those shapes equals the integer reference bitwise (so it took the
// integer path) and differs from the dequantize-to-f32 mode.
TEST_P(QMatMulLegacyTest, Gemma3_270MShapesTakeTheIntegerPath) {
  struct Shape {
    DType t;
    int64_t N, K;
  };
  const Shape shapes[] = {{DType::kQ5_0, 1024, 640},
                          {DType::kQ5_0, 256, 640},
                          {DType::kQ5_0, 2048, 640},
                          {DType::kQ8_0, 256, 640}};
  for (const Shape& s : shapes) {
    for (int64_t T : {1, 5}) {
      const QMatrix m = Quantized(s.t, s.N, s.K, 40 + s.N);
      const auto x = test_util::RandomFloats(T * s.K, 41 + T);
      std::vector<float> y(T * s.N), yr(T * s.N), yf(T * s.N);
      MatMul(x.data(), T, s.K, m.view, y.data(), s.N);
      ref::QuantMatMul(x.data(), T, s.K, m.view, yr.data(), s.N);
      SetQuantMatMulMode(QuantMatMulMode::kDequantF32);
      MatMul(x.data(), T, s.K, m.view, yf.data(), s.N);
      SetQuantMatMulMode(QuantMatMulMode::kInteger);
      SCOPED_TRACE(testing::Message() << Name(s.t) << " " << s.N << "x" << s.K << " T=" << T);
      ExpectBitwise(y, yr, "integer MatMul vs integer reference");
      int64_t differ = 0;
      for (size_t i = 0; i < y.size(); ++i) differ += y[i] != yf[i];
      EXPECT_GT(differ, static_cast<int64_t>(y.size()) / 2) << "the f32 mode should differ";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vnni, QMatMulLegacyTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "vnni" : "portable"; });

}  // namespace
}  // namespace sov::kernels
