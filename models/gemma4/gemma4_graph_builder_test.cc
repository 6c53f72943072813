#include "models/gemma4/builder.h"

#include <map>
#include <string>

#include "graph/passes/passes.h"
#include "gtest/gtest.h"
#include "models/gemma4/tensor_table.h"

namespace sov::gemma4 {
namespace {

using graph::Graph;
using graph::OpKind;

int Count(const Graph& g, OpKind op, int32_t layer) {
  int n = 0;
  for (const auto& node : g.nodes) n += (node.op == op && node.layer == layer);
  return n;
}

// Every published variant builds, resolves KV sharing and passes shape checks
// (without weights), with one "resid" tap per layer.
class BuildAll : public ::testing::TestWithParam<int> {};

ModelConfig Variant(int i) {
  switch (i) {
    case 0: return Gemma4E2B();
    case 1: return Gemma4E4B();
    case 2: return Gemma4_26B_A4B();
    default: return Gemma4_31B();
  }
}

TEST_P(BuildAll, BuildsAndChecks) {
  ModelConfig c = Variant(GetParam());
  absl::StatusOr<Graph> g = BuildGraph(c);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(graph::ResolveKvSharing(*g).ok());
  absl::Status s = graph::InferShapes(*g, nullptr);
  EXPECT_TRUE(s.ok()) << s;
  int resid = 0;
  for (const auto& t : g->taps) resid += (t.name == "resid");
  EXPECT_EQ(resid, c.num_layers);
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->outputs[0].name, "logits");
  // KV-owning layers store K/V; shared layers never write (pitfall 10).
  for (int64_t l = 0; l < c.num_layers; ++l)
    EXPECT_EQ(Count(*g, OpKind::kKvStore, l), c.layers[l].owns_kv ? 1 : 0) << l;
  // Shared caches point at the donor the config derived.
  for (const auto& kv : g->caches) {
    if (!kv.shared) continue;
    ASSERT_GE(kv.donor, 0);
    EXPECT_EQ(g->caches[kv.donor].layer, c.layers[kv.layer].kv_source) << kv.layer;
  }
}

INSTANTIATE_TEST_SUITE_P(Gemma4, BuildAll, ::testing::Values(0, 1, 2, 3));

TEST(Gemma4Builder, KEqVHasNoVProjection) {
  ModelConfig c = Gemma4_26B_A4B();
  absl::StatusOr<Graph> g = BuildGraph(c);
  ASSERT_TRUE(g.ok());
  std::map<std::string, int> weights;
  for (const auto& n : g->nodes)
    for (const auto& w : n.weights) weights[w]++;
  EXPECT_EQ(weights.count(GgufName(TensorId::kVProj, 5)), 0u);  // full, k_eq_v
  EXPECT_EQ(weights.count(GgufName(TensorId::kVProj, 4)), 1u);  // sliding
  EXPECT_EQ(Count(*g, OpKind::kMoeExperts, 3), 1);
  // Tied LM head reads the embedding table twice (gather + head).
  EXPECT_EQ(weights[GgufName(TensorId::kEmbedTokens, -1)], 2);
}

TEST(Gemma4Builder, RejectsUnfinalizedConfig) {
  ModelConfig c;
  EXPECT_FALSE(BuildGraph(c).ok());
}

}  // namespace
}  // namespace sov::gemma4
