// MoeRoute and MoeExperts (public entry points, dispatched to every compiled
// target by the fixture) against the scalar reference; routing ties;
// thread-count determinism.
#include <cmath>
#include <cstring>
#include <vector>

#include <tbb/task_arena.h>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"
#include "kernels/weight_row.h"

namespace sov::kernels {
namespace {

using test_util::kU32;

class MoeTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MoeTest);

TEST_P(MoeTest, RouteMatchesReference) {
  for (int64_t E : {1, 4, 17, 128}) {
    for (int64_t k : {1, 2, 8}) {
      if (k > E) continue;
      const int64_t T = 5;
      const auto logits = test_util::RandomFloats(T * E, E * 10 + k, -6, 6);
      const auto scale = test_util::RandomFloats(E, E, 0.5f, 2.0f);
      for (const float* pes : {static_cast<const float*>(nullptr), scale.data()}) {
        std::vector<int32_t> idx(T * k), idxr(T * k);
        std::vector<float> w(T * k), wr(T * k);
        MoeRoute(logits.data(), T, E, k, pes, idx.data(), w.data());
        ref::MoeRoute(logits.data(), T, E, k, pes, idxr.data(), wr.data());
        ASSERT_EQ(idx, idxr) << "E=" << E << " k=" << k;
        for (size_t i = 0; i < w.size(); ++i) {
          // exp within 1 ulp, the softmax sum over E positive terms (E + 1) u,
          // the selection sum (k + 1) u, three divisions/products.
          ASSERT_NEAR(w[i], wr[i], (E + k + 10) * kU32 * std::fabs(wr[i])) << i;
        }
      }
    }
  }
}

TEST_P(MoeTest, RouteTiesGoToTheLowerExpertId) {
  // Experts 2, 5 and 6 tie for the top; 1 and 7 tie below them.
  const float logits[8] = {0.0f, 1.0f, 3.0f, -1.0f, 0.5f, 3.0f, 3.0f, 1.0f};
  int32_t idx[4];
  float w[4];
  MoeRoute(logits, 1, 8, 4, nullptr, idx, w);
  EXPECT_EQ(idx[0], 2);
  EXPECT_EQ(idx[1], 5);
  EXPECT_EQ(idx[2], 6);
  EXPECT_EQ(idx[3], 1);
  EXPECT_EQ(w[0], w[1]);
  EXPECT_EQ(w[1], w[2]);
  EXPECT_GT(w[2], w[3]);
  EXPECT_NEAR(w[0] + w[1] + w[2] + w[3], 1.0f, 4 * kU32);
  // All equal: the first k ids in order, equal weights 1/k.
  const float flat[6] = {2, 2, 2, 2, 2, 2};
  MoeRoute(flat, 1, 6, 3, nullptr, idx, w);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[1], 1);
  EXPECT_EQ(idx[2], 2);
  EXPECT_NEAR(w[0], 1.0f / 3, 2 * kU32);
}

// A small random expert bank in `dtype`.
struct Bank {
  std::vector<test_util::TestMatrix> gu, dn;
  std::vector<WeightView> guv, dnv;
  ExpertBank bank;
  Bank(int64_t E, int64_t H, int64_t I, DType dtype) {
    for (int64_t e = 0; e < E; ++e) {
      gu.push_back(test_util::MakeMatrix(test_util::RandomFloats(2 * I * H, 100 + e), 2 * I, H, dtype));
      dn.push_back(test_util::MakeMatrix(test_util::RandomFloats(H * I, 200 + e), H, I, dtype));
    }
    for (int64_t e = 0; e < E; ++e) guv.push_back(gu[e].view), dnv.push_back(dn[e].view);
    bank = {guv.data(), dnv.data(), E, H, I};
  }
};

// Bound on |out - ref| for token t, column c: propagate a MatMul bound
// (K + 1) u sum|x w| through gate/up, the activation (|gelu'| <= 1.13, tanh
// error as in the elementwise tests) and down, then the weighted sum.
std::vector<double> ExpertBounds(const Bank& b, const float* x, int64_t T, const int32_t* idx,
                                 const float* w, int64_t k) {
  const int64_t H = b.bank.hidden, I = b.bank.intermediate;
  std::vector<double> bound(static_cast<size_t>(T * H), 0.0);
  std::vector<float> row(static_cast<size_t>(std::max(H, I)));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * H;
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = idx[t * k + j];
      std::vector<double> act(I), dact(I);
      for (int64_t i = 0; i < I; ++i) {
        double g = 0, u = 0, G = 0, U = 0;
        DecodeRow(b.bank.gate_up[e], i, row.data());
        for (int64_t c = 0; c < H; ++c) g += double{xt[c]} * row[c], G += std::fabs(double{xt[c]} * row[c]);
        DecodeRow(b.bank.gate_up[e], I + i, row.data());
        for (int64_t c = 0; c < H; ++c) u += double{xt[c]} * row[c], U += std::fabs(double{xt[c]} * row[c]);
        const double gl = ref::GeluTanh(g);
        const double a = 0.7978845608 * std::fabs(g + 0.044715 * g * g * g);
        act[i] = gl * u;
        dact[i] = (H + 1) * kU32 * (1.13 * G * std::fabs(u) + std::fabs(gl) * U) +
                  std::fabs(u) * 0.5 * std::fabs(g) * (4 + 3 * a) * 2 * kU32 + 4 * kU32 * std::fabs(act[i]);
      }
      for (int64_t c = 0; c < H; ++c) {
        DecodeRow(b.bank.down[e], c, row.data());
        double mag = 0, prop = 0, y = 0;
        for (int64_t i = 0; i < I; ++i) {
          mag += std::fabs(act[i] * row[i]);
          prop += dact[i] * std::fabs(row[i]);
          y += act[i] * row[i];
        }
        bound[t * H + c] += std::fabs(w[t * k + j]) * ((I + 1) * kU32 * mag + prop) +
                            (k + 1) * kU32 * std::fabs(w[t * k + j] * y);
      }
    }
  }
  for (double& v : bound) v += 1e-30;
  return bound;
}

TEST_P(MoeTest, ExpertsMatchReference) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    for (int64_t T : {1, 3, 11}) {
      const int64_t E = 6, H = 33, I = 17, k = 3;
      const Bank b(E, H, I, dt);
      const auto x = test_util::RandomFloats(T * H, T, -1, 1);
      const auto logits = test_util::RandomFloats(T * E, T + 1, -2, 2);
      std::vector<int32_t> idx(T * k);
      std::vector<float> w(T * k);
      ref::MoeRoute(logits.data(), T, E, k, nullptr, idx.data(), w.data());
      std::vector<float> scratch(MoeExpertsScratchFloats(b.bank, T, k));
      std::vector<float> out(T * H), outr(T * H);
      MoeExperts(b.bank, x.data(), T, H, idx.data(), w.data(), k, out.data(), H, scratch.data());
      ref::MoeExperts(b.bank, x.data(), T, H, idx.data(), w.data(), k, outr.data(), H, nullptr);
      const auto bound = ExpertBounds(b, x.data(), T, idx.data(), w.data(), k);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_LE(std::fabs(double{out[i]} - outr[i]), bound[i])
            << Name(dt) << " T=" << T << " i=" << i << " got " << out[i] << " want " << outr[i];
      }
    }
  }
}

std::vector<float> RunExperts(int threads, const Bank& b, const std::vector<float>& x, int64_t T,
                              const std::vector<int32_t>& idx, const std::vector<float>& w,
                              int64_t k) {
  std::vector<float> scratch(MoeExpertsScratchFloats(b.bank, T, k));
  std::vector<float> out(T * b.bank.hidden);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    MoeExperts(b.bank, x.data(), T, b.bank.hidden, idx.data(), w.data(), k, out.data(),
               b.bank.hidden, scratch.data());
  });
  return out;
}

TEST(MoeExpertsTest, BitwiseIdenticalForOneAndTwoThreadsAndPerToken) {
  const int64_t E = 8, H = 160, I = 72, k = 4, T = 21;
  const Bank b(E, H, I, DType::kBF16);
  const auto x = test_util::RandomFloats(T * H, 9);
  const auto logits = test_util::RandomFloats(T * E, 10);
  std::vector<int32_t> idx(T * k);
  std::vector<float> w(T * k);
  MoeRoute(logits.data(), T, E, k, nullptr, idx.data(), w.data());
  const auto o1 = RunExperts(1, b, x, T, idx, w, k);
  const auto o2 = RunExperts(2, b, x, T, idx, w, k);
  ASSERT_EQ(0, std::memcmp(o1.data(), o2.data(), o1.size() * 4));
  // Token 7 alone (decode) gives the same bits as inside the batch.
  const std::vector<float> x7(x.begin() + 7 * H, x.begin() + 8 * H);
  const std::vector<int32_t> i7(idx.begin() + 7 * k, idx.begin() + 8 * k);
  const std::vector<float> w7(w.begin() + 7 * k, w.begin() + 8 * k);
  const auto o7 = RunExperts(2, b, x7, 1, i7, w7, k);
  ASSERT_EQ(0, std::memcmp(o7.data(), o1.data() + 7 * H, H * 4));
}

TEST(MoeExpertsTest, RejectsBadExpertId) {
  const Bank b(2, 8, 4, DType::kF32);
  const std::vector<float> x(8, 1.0f), w(1, 1.0f);
  const std::vector<int32_t> idx(1, 2);
  std::vector<float> scratch(MoeExpertsScratchFloats(b.bank, 1, 1)), out(8);
  EXPECT_DEATH(MoeExperts(b.bank, x.data(), 1, 8, idx.data(), w.data(), 1, out.data(), 8,
                          scratch.data()),
               "out of range");
}

}  // namespace
}  // namespace sov::kernels
