#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/check.h"

namespace sov {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::set<TokenId> Ids(const std::vector<TokenProb>& d) {
  std::set<TokenId> s;
  for (const TokenProb& t : d) s.insert(t.id);
  return s;
}

Sampler Make(SamplerConfig c) {
  auto s = Sampler::Create(std::move(c));
  SOV_CHECK(s.ok()) << s.status();
  return *std::move(s);
}

// Shuffled so that id order and probability order differ.
const std::vector<double> kProbs = {0.10, 0.50, 0.05, 0.20, 0.15};

TEST(Sampler, GreedyIsArgmax) {
  Sampler s = Make({.temperature = 0});
  std::vector<float> l = {0.1f, 2.5f, -1.0f, 2.4f};
  EXPECT_EQ(*s.Sample(l), 1);
  l[3] = 2.5f;  // tie: the lower id
  EXPECT_EQ(*s.Sample(l), 1);
  std::vector<float> neg = {-5.0f, -0.5f, -3.0f};
  EXPECT_EQ(*s.Sample(neg), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler greedy = Make({.temperature = 0});
  Sampler k1 = Make({.temperature = 1.5f, .top_k = 1, .seed = 7});
  std::mt19937 gen(3);
  std::normal_distribution<float> nd(0, 3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> l(1000);
    for (float& x : l) x = nd(gen);
    EXPECT_EQ(*k1.Sample(l), *greedy.Sample(l));
  }
}

TEST(Sampler, TopKKeepsTheKLargest) {
  Sampler s = Make({.top_k = 3});
  EXPECT_THAT(Ids(*s.Distribution(LogitsOf(kProbs))), UnorderedElementsAre(1, 3, 4));
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  // Sorted: 1 (.50), 3 (.20), 4 (.15), 0 (.10), 2 (.05); cumulative .50 .70 .85 .95 1.
  auto ids = [](float p) { return Ids(*Make({.top_p = p}).Distribution(LogitsOf(kProbs))); };
  EXPECT_EQ(ids(0.45f), (std::set<TokenId>{1}));
  EXPECT_EQ(ids(0.65f), (std::set<TokenId>{1, 3}));
  EXPECT_EQ(ids(0.80f), (std::set<TokenId>{1, 3, 4}));
  EXPECT_EQ(ids(0.86f), (std::set<TokenId>{1, 3, 4, 0}));
  EXPECT_EQ(ids(0.99f), (std::set<TokenId>{1, 3, 4, 0, 2}));
  EXPECT_EQ(ids(0.01f), (std::set<TokenId>{1}));
  // Renormalised over the survivors.
  auto d = *Make({.top_p = 0.65f}).Distribution(LogitsOf(kProbs));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d[0].p, 0.5 / 0.7, 1e-6);
  EXPECT_NEAR(d[1].p, 0.2 / 0.7, 1e-6);
}

TEST(Sampler, FiltersSurviveWideLogitRanges) {
  // Softmax must be taken relative to the largest logit, or exp overflows.
  std::vector<float> l = {-1000.0f, 1000.0f, 0.0f};
  EXPECT_EQ(Ids(*Make({.top_p = 0.5f}).Distribution(l)), (std::set<TokenId>{1}));
  EXPECT_EQ(Ids(*Make({.min_p = 0.01f}).Distribution(l)), (std::set<TokenId>{1}));
  auto d = *Make({}).Distribution(l);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_DOUBLE_EQ(d[0].p, 1.0);
}

TEST(Sampler, TopPOnALargeVocabulary) {
  // Exercises the incremental sort: 100k tokens, mass spread thinly.
  std::vector<float> l(100000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f;
  auto d = *Make({.top_p = 0.9f}).Distribution(l);
  // Check against a full sort.
  std::vector<std::pair<float, TokenId>> all;
  for (size_t i = 0; i < l.size(); ++i) all.push_back({l[i], static_cast<TokenId>(i)});
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  double z = 0, cum = 0;
  for (auto& [x, id] : all) z += std::exp(static_cast<double>(x - all[0].first));
  size_t keep = 0;
  while (cum < 0.9 * z) cum += std::exp(static_cast<double>(all[keep++].first - all[0].first));
  ASSERT_EQ(d.size(), keep);
  for (size_t i = 0; i < keep; ++i) EXPECT_EQ(d[i].id, all[i].second);
}

TEST(Sampler, MinPKeepsTokensNearTheTop) {
  auto ids = [](float m) { return Ids(*Make({.min_p = m}).Distribution(LogitsOf(kProbs))); };
  EXPECT_EQ(ids(0.25f), (std::set<TokenId>{1, 3, 4}));  // p >= .125
  EXPECT_EQ(ids(0.35f), (std::set<TokenId>{1, 3}));     // p >= .175
  EXPECT_EQ(ids(0.05f), (std::set<TokenId>{0, 1, 2, 3, 4}));
  EXPECT_EQ(ids(1.0f), (std::set<TokenId>{1}));
}

TEST(Sampler, RepetitionPenaltyLlamaCppStyle) {
  // Token 0 positive (divided), token 1 negative (multiplied), window of 2.
  Sampler s = Make({.temperature = 0, .repeat_penalty = 2.0f, .repeat_last_n = 2});
  std::vector<float> l = {3.0f, -1.0f, 1.6f, -1.5f};
  EXPECT_EQ(*s.Sample(l), 0);  // nothing in the history yet; 0 is accepted
  // Now 3.0 / 2 = 1.5 < 1.6.
  EXPECT_EQ(*s.Sample(l), 2);
  s.Reset();
  s.Accept(1);
  s.Accept(1);  // repeated tokens are penalised once
  std::vector<float> only_neg = {-2.5f, -1.1f, -2.1f};
  EXPECT_EQ(*s.Sample(only_neg), 2);  // token 1: -1.1 * 2 = -2.2 < -2.1
}

TEST(Sampler, RepetitionWindowForgets) {
  Sampler s = Make({.temperature = 0, .repeat_penalty = 10.0f, .repeat_last_n = 1});
  std::vector<float> l = {2.0f, 1.0f};
  s.Accept(0);
  s.Accept(1);  // pushes 0 out of the window
  EXPECT_EQ(*s.Sample(l), 0);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> l = LogitsOf({0.3, 0.3, 0.2, 0.1, 0.1});
  auto run = [&](uint64_t seed) {
    Sampler s = Make({.temperature = 1.0f, .seed = seed});
    std::vector<TokenId> seq;
    for (int i = 0; i < 64; ++i) seq.push_back(*s.Sample(l));
    return seq;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  Sampler s = Make({.temperature = 1.0f, .seed = 42});
  std::vector<TokenId> first;
  for (int i = 0; i < 64; ++i) first.push_back(*s.Sample(l));
  s.Reset();
  std::vector<TokenId> again;
  for (int i = 0; i < 64; ++i) again.push_back(*s.Sample(l));
  EXPECT_EQ(first, again);
}

TEST(Sampler, LowTemperatureApproachesGreedy) {
  std::vector<float> l = {1.0f, 1.3f, 0.2f, 1.25f};
  auto d = *Make({.temperature = 0.01f}).Distribution(l);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_GT(d[0].p, 0.99);  // exp(-0.05 / 0.01) ~ 0.0067 for the runner-up
  Sampler s = Make({.temperature = 0.002f, .seed = 1});
  for (int i = 0; i < 200; ++i) EXPECT_EQ(*s.Sample(l), 1);
  // And higher temperature flattens.
  auto hot = *Make({.temperature = 100.0f}).Distribution(l);
  EXPECT_LT(hot[0].p, 0.26);
}

TEST(Sampler, FrequenciesMatchProbabilities) {
  // Pearson chi-square over 5 outcomes (4 degrees of freedom); 18.47 is the
  // 0.999 quantile, so a correct sampler fails this for about 1 seed in 1000,
  // and the seed is fixed.
  const std::vector<double> probs = {0.4, 0.25, 0.2, 0.1, 0.05};
  Sampler s = Make({.temperature = 1.0f, .seed = 20261127});
  const int n = 20000;
  std::vector<int> count(probs.size(), 0);
  for (int i = 0; i < n; ++i) ++count[*s.Sample(LogitsOf(probs))];
  double chi2 = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = n * probs[i];
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  EXPECT_LT(chi2, 18.47);
  // A sampler that ignored the probabilities (uniform) would be far off.
  double chi2_uniform = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double e = n / 5.0;
    chi2_uniform += (count[i] - e) * (count[i] - e) / e;
  }
  EXPECT_GT(chi2_uniform, 1000);
}

TEST(Sampler, StopIds) {
  Sampler s = Make({.stop_ids = {1, 106}});
  EXPECT_TRUE(s.IsStop(1));
  EXPECT_TRUE(s.IsStop(106));
  EXPECT_FALSE(s.IsStop(2));
}

TEST(Sampler, BadSettingsAndLogits) {
  EXPECT_THAT(Sampler::Create({.top_p = 0}).status().message(), HasSubstr("top_p"));
  EXPECT_THAT(Sampler::Create({.top_p = 1.5f}).status().message(), HasSubstr("top_p"));
  EXPECT_THAT(Sampler::Create({.top_k = -1}).status().message(), HasSubstr("top_k"));
  EXPECT_THAT(Sampler::Create({.min_p = -0.1f}).status().message(), HasSubstr("min_p"));
  EXPECT_THAT(Sampler::Create({.repeat_penalty = 0}).status().message(),
              HasSubstr("repeat_penalty"));
  EXPECT_THAT(Sampler::Create({.repeat_last_n = -2}).status().message(),
              HasSubstr("repeat_last_n"));
  EXPECT_THAT(Sampler::Create({.temperature = NAN}).status().message(),
              HasSubstr("temperature"));
  Sampler s = Make({});
  EXPECT_FALSE(s.Sample(std::vector<float>{}).ok());
  EXPECT_THAT(s.Sample(std::vector<float>{0.0f, NAN}).status().message(), HasSubstr("logit 1"));
  EXPECT_FALSE(s.Sample(std::vector<float>{-INFINITY, -INFINITY}).ok());
}

}  // namespace
}  // namespace sov
