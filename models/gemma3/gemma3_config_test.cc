#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/gemma3/builder.h"
#include "models/gemma3/config.h"
#include "models/gemma3/tensor_table.h"

namespace sov::gemma3 {
namespace {

using ::testing::HasSubstr;

TEST(Gemma3ConfigTest, PatternIsFiveSlidingOneGlobal) {
  const std::vector<bool> g = DefaultGlobalLayers(18);
  for (int64_t l = 0; l < 18; ++l) EXPECT_EQ(g[l], l == 5 || l == 11 || l == 17) << l;
}

TEST(Gemma3ConfigTest, Published270M) {
  const ModelConfig c = Gemma3_270M();
  EXPECT_EQ(c.query_pre_attn_scalar, 256.0);
  EXPECT_FLOAT_EQ(c.query_scale(), 1.0f / 16.0f);
  EXPECT_FLOAT_EQ(c.embed_scale(), std::sqrt(640.0f));
  // Sliding layers rotate with theta 10000, global ones with 1e6.
  const std::vector<float> local = c.RopeInvFreq(0), global = c.RopeInvFreq(5);
  ASSERT_EQ(local.size(), 128u);
  EXPECT_FLOAT_EQ(local[1], static_cast<float>(std::pow(10000.0, -2.0 / 256)));
  EXPECT_FLOAT_EQ(global[1], static_cast<float>(std::pow(1e6, -2.0 / 256)));
}

TEST(Gemma3ConfigTest, LinearScalingOnlyOnGlobalLayers) {
  ModelConfig c = Gemma3_270M();
  c.rope_scale_global = 8.0;
  EXPECT_FLOAT_EQ(c.RopeInvFreq(5)[3], static_cast<float>(std::pow(1e6, -6.0 / 256) / 8.0));
  EXPECT_FLOAT_EQ(c.RopeInvFreq(4)[3], static_cast<float>(std::pow(1e4, -6.0 / 256)));
}

TEST(Gemma3ConfigTest, The27BScalesQueriesByHiddenOverHeads) {
  ModelConfig c;
  c.vocab_size = 262144;
  c.hidden_size = 5376;
  c.intermediate_size = 21504;
  c.num_layers = 62;
  c.num_heads = 32;
  c.num_kv_heads = 16;
  c.head_dim = 128;
  c.sliding_window = 1024;
  c.context_length = 131072;
  ASSERT_TRUE(c.Finalize().ok());
  EXPECT_EQ(c.query_pre_attn_scalar, 168.0);
}

TEST(Gemma3ConfigTest, ErrorsNameTheKey) {
  ModelConfig c = Gemma3_270M();
  c.num_kv_heads = 3;
  EXPECT_THAT(c.Validate().message(), HasSubstr("gemma3.attention.head_count_kv"));
  c = Gemma3_270M();
  c.sliding_window = 0;
  EXPECT_THAT(c.Validate().message(), HasSubstr("gemma3.attention.sliding_window"));
  c = Gemma3_270M();
  c.global_layers = {true, false};
  EXPECT_THAT(c.Validate().message(), HasSubstr("sliding_window_pattern"));
}

TEST(Gemma3ConfigTest, TensorTableShapes) {
  const ModelConfig c = Gemma3_270M();
  EXPECT_EQ(GgufName(TensorId::kQProj, 3), "blk.3.attn_q.weight");
  EXPECT_EQ(GgufName(TensorId::kPostFfnNorm, 17), "blk.17.post_ffw_norm.weight");
  EXPECT_EQ(Shape(c, TensorId::kQProj), (std::vector<int64_t>{1024, 640}));
  EXPECT_EQ(Shape(c, TensorId::kOProj), (std::vector<int64_t>{640, 1024}));
  EXPECT_EQ(Shape(c, TensorId::kKNorm), (std::vector<int64_t>{256}));
  EXPECT_EQ(Shape(c, TensorId::kDownProj), (std::vector<int64_t>{640, 2048}));
}

TEST(Gemma3BuilderTest, OneCachePerLayerWithTheRightKind) {
  const ModelConfig c = Gemma3_270M();
  absl::StatusOr<graph::Graph> g = BuildGraph(c, {.last_row_only = true});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->caches.size(), 18u);
  for (int64_t l = 0; l < 18; ++l) {
    const bool global = l % 6 == 5;
    EXPECT_EQ(g->caches[l].kind, global ? graph::AttnKind::kFull : graph::AttnKind::kSliding);
    EXPECT_EQ(g->caches[l].window, global ? 0 : 512);
  }
  ModelConfig unfinished;
  EXPECT_FALSE(BuildGraph(unfinished).ok());
}

}  // namespace
}  // namespace sov::gemma3
