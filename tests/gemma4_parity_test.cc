// Parity of the Gemma 4 text decoder with transformers (fp32, eager) on the
// tiny fixtures: logits, the residual after every layer, cached decode,
// determinism across thread counts, and the first-divergence search.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/gemma4/tensor_table.h"
#include "runtime/executor.h"
#include "runtime/loader.h"
#include "tests/gemma4_fixture.h"

namespace sov {
namespace {

using testing::Cases;
using testing::MaxAbs;
using testing::MaxAbsDiff;

// Logits tolerance of the task: max |Δlogit| <= 1e-4 against fp32 transformers.
constexpr double kLogitTol = 1e-4;
// Residual tolerance, relative to the largest |value| of that layer's
// reference residual. Both sides are fp32; the residual is a sum of O(L)
// terms, each the output of dot products of length <= max(H, I) whose
// rounding error is ~sqrt(n) * 2^-24 relative to the magnitudes summed. With
// n <= 300 and values up to ~50 that is ~1e-6 relative per op and a few
// 1e-6 after a handful of layers; 2e-5 leaves a 4-10x margin while a real
// bug (a wrong scale, window or donor) gives relative errors >= 1e-2.
constexpr double kResidRelTol = 2e-5;

struct FixtureRun {
  std::vector<float> logits;
  std::vector<TapRecord> taps;
};

absl::StatusOr<FixtureRun> RunFixture(const Gemma4Model& m, const std::vector<int32_t>& tokens,
                                      int threads, bool fuse, bool debug_taps = false) {
  RunnerOptions ro;
  ro.debug_taps = debug_taps;
  ro.threads = threads;
  ro.max_tokens = static_cast<int64_t>(tokens.size());
  ro.fuse = fuse;
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(m, ro);
  if (!r.ok()) return r.status();
  FixtureRun out;
  (*r)->executor().set_tap_sink(&out.taps);
  absl::StatusOr<std::vector<float>> l = (*r)->Logits(tokens);
  if (!l.ok()) return l.status();
  out.logits = std::move(*l);
  return out;
}

class Gemma4Parity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!testing::FixtureExists(GetParam())) GTEST_SKIP() << "fixture " << GetParam() << " absent";
    absl::StatusOr<Cases> c = testing::LoadCases(GetParam());
    ASSERT_TRUE(c.ok()) << c.status();
    cases_ = *std::move(c);
    absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(testing::FixtureDir(GetParam()));
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *std::move(m);
  }
  Cases cases_;
  std::unique_ptr<Gemma4Model> model_;
};

TEST_P(Gemma4Parity, LogitsAndResiduals) {
  for (bool fuse : {true, false}) {
    SCOPED_TRACE(fuse ? "fused" : "unfused");
    absl::StatusOr<FixtureRun> run = RunFixture(*model_, cases_.tokens, 1, fuse);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->logits.size(), cases_.logits.size());
    const double dl = MaxAbsDiff(run->logits.data(), cases_.logits.data(), cases_.logits.size());
    std::printf("[%s %s] max |dlogit| = %.3g\n", GetParam().c_str(), fuse ? "fused" : "unfused",
                dl);
    EXPECT_LE(dl, kLogitTol);

    int seen = 0;
    const size_t per_layer = static_cast<size_t>(cases_.T * cases_.H);
    for (const TapRecord& t : run->taps) {
      if (t.name != "resid") continue;
      ASSERT_GE(t.layer, 0);
      ASSERT_LT(t.layer, cases_.L);
      ASSERT_EQ(t.data.size(), per_layer);
      const float* ref = cases_.residual.data() + t.layer * per_layer;
      const double scale = std::max(1.0, MaxAbs(ref, per_layer));
      const double d = MaxAbsDiff(t.data.data(), ref, per_layer);
      std::printf("  layer %d: max |dresid| = %.3g (rel %.3g)\n", t.layer, d, d / scale);
      EXPECT_LE(d / scale, kResidRelTol) << "layer " << t.layer;
      ++seen;
    }
    EXPECT_EQ(seen, cases_.L);
  }
}

// Prefill k tokens, then decode the rest one at a time: the logits equal the
// full-sequence ones (sliding ring buffers, KV sharing in decode).
TEST_P(Gemma4Parity, DecodeMatchesPrefill) {
  const int64_t k = cases_.decode_prefix;
  ASSERT_GT(k, 0);
  ASSERT_LT(k, cases_.T);
  RunnerOptions ro;
  ro.threads = 1;
  ro.max_tokens = cases_.T;
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(*model_, ro);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<std::vector<float>> full = (*r)->Logits(cases_.tokens);
  ASSERT_TRUE(full.ok()) << full.status();

  Executor& ex = (*r)->executor();
  ex.Reset();
  absl::StatusOr<Logits> pre =
      ex.Prefill(std::span<const int32_t>(cases_.tokens.data(), static_cast<size_t>(k)));
  ASSERT_TRUE(pre.ok()) << pre.status();
  double worst_self = 0.0, worst_hf = 0.0;
  for (int64_t t = k; t < cases_.T; ++t) {
    absl::StatusOr<Logits> d = ex.Decode(cases_.tokens[t]);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_EQ(d->cols, cases_.V);
    const float* row = d->row(d->rows - 1);
    worst_self = std::max(worst_self, MaxAbsDiff(row, full->data() + t * cases_.V, cases_.V));
    if (!cases_.decode_logits.empty())
      worst_hf = std::max(worst_hf, MaxAbsDiff(row, cases_.decode_logits.data() + (t - k) * cases_.V,
                                               cases_.V));
  }
  std::printf("[%s] decode vs own prefill %.3g, vs transformers decode %.3g\n",
              GetParam().c_str(), worst_self, worst_hf);
  // Same weights and kernels; only the number of rows per MatMul call and the
  // attention step differ, which changes no accumulation order in our kernels
  // beyond row blocking: allow a few fp32 ulps of logits ~20.
  EXPECT_LE(worst_self, 2e-5);
  EXPECT_LE(worst_hf, kLogitTol);
}

// A prompt longer than the prefill bucket runs in chunks; windows and shared
// caches must carry across chunk boundaries.
TEST_P(Gemma4Parity, ChunkedPrefillMatches) {
  RunnerOptions ro;
  ro.threads = 1;
  ro.max_tokens = 5;  // bucket of 5 rows: T = 22..28 takes 5-6 chunks
  ro.context = cases_.T;
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(*model_, ro);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<std::vector<float>> l = (*r)->Logits(cases_.tokens);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->size(), cases_.logits.size());
  EXPECT_LE(MaxAbsDiff(l->data(), cases_.logits.data(), l->size()), kLogitTol);
}

TEST_P(Gemma4Parity, ThreadCountDoesNotChangeBits) {
  absl::StatusOr<FixtureRun> a = RunFixture(*model_, cases_.tokens, 1, true);
  absl::StatusOr<FixtureRun> b = RunFixture(*model_, cases_.tokens, 2, true);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->logits.size(), b->logits.size());
  EXPECT_EQ(std::memcmp(a->logits.data(), b->logits.data(), a->logits.size() * 4), 0);
  std::optional<Divergence> d = FirstDivergence(a->taps, b->taps, 0.0);
  EXPECT_FALSE(d.has_value()) << d->ToString();
}

// Perturb one weight of layer 3 (or the last layer of shorter models): the
// divergence search names that layer.
TEST_P(Gemma4Parity, FirstDivergenceNamesThePerturbedLayer) {
  const int64_t layer = std::min<int64_t>(3, cases_.L - 1);
  absl::StatusOr<FixtureRun> clean = RunFixture(*model_, cases_.tokens, 1, true);
  ASSERT_TRUE(clean.ok()) << clean.status();

  absl::StatusOr<std::unique_ptr<Gemma4Model>> m2 = LoadGemma4(testing::FixtureDir(GetParam()));
  ASSERT_TRUE(m2.ok());
  absl::StatusOr<float*> w = (*m2)->weights->MutableMatrixF32(
      gemma4::GgufName(gemma4::TensorId::kUpProj, layer));
  ASSERT_TRUE(w.ok()) << w.status();
  (*w)[5] += 0.5f;
  absl::StatusOr<FixtureRun> bad = RunFixture(**m2, cases_.tokens, 1, true);
  ASSERT_TRUE(bad.ok()) << bad.status();

  std::optional<Divergence> d = FirstDivergence(clean->taps, bad->taps, 1e-6);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->layer, layer) << d->ToString();
  std::printf("[%s] %s\n", GetParam().c_str(), d->ToString().c_str());
}

// With the per-op debug taps the search also names the op: a perturbed q
// projection first shows in that layer's "attn_q", before its residual.
TEST_P(Gemma4Parity, DebugTapsNameTheOp) {
  const int64_t layer = std::min<int64_t>(3, cases_.L - 1);
  absl::StatusOr<FixtureRun> clean = RunFixture(*model_, cases_.tokens, 1, true, true);
  ASSERT_TRUE(clean.ok()) << clean.status();
  // Logits do not depend on the extra taps (they only limit fusion).
  EXPECT_LE(MaxAbsDiff(clean->logits.data(), cases_.logits.data(), cases_.logits.size()), kLogitTol);

  absl::StatusOr<std::unique_ptr<Gemma4Model>> m2 = LoadGemma4(testing::FixtureDir(GetParam()));
  ASSERT_TRUE(m2.ok());
  absl::StatusOr<float*> w = (*m2)->weights->MutableMatrixF32(
      gemma4::GgufName(gemma4::TensorId::kQProj, layer));
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 8; ++i) (*w)[i] += 0.25f;
  absl::StatusOr<FixtureRun> bad = RunFixture(**m2, cases_.tokens, 1, true, true);
  ASSERT_TRUE(bad.ok()) << bad.status();
  std::optional<Divergence> d = FirstDivergence(clean->taps, bad->taps, 1e-6);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->layer, layer) << d->ToString();
  EXPECT_EQ(d->name, "attn_q") << d->ToString();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma4Parity, ::testing::ValuesIn(testing::FixtureNames()));

}  // namespace
}  // namespace sov
