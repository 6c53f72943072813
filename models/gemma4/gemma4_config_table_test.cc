#include "models/gemma4/config.h"

#include <cmath>

#include "gtest/gtest.h"
#include "models/gemma4/tensor_table.h"

namespace sov::gemma4 {
namespace {

int CountOwners(const ModelConfig& c, LayerType t) {
  int n = 0;
  for (const LayerConfig& l : c.layers) n += (l.owns_kv && l.type == t);
  return n;
}

TEST(Gemma4Config, E2B) {
  ModelConfig c = Gemma4E2B();
  ASSERT_EQ(c.layers.size(), 35u);
  EXPECT_EQ(c.first_shared_layer(), 15);
  EXPECT_EQ(CountOwners(c, LayerType::kSliding), 12);
  EXPECT_EQ(CountOwners(c, LayerType::kFull), 3);
  for (int l = 15; l < 35; ++l) {
    EXPECT_FALSE(c.layers[l].owns_kv);
    EXPECT_EQ(c.layers[l].kv_source, c.layers[l].type == LayerType::kFull ? 14 : 13) << l;
    EXPECT_EQ(c.layers[l].ffn_dim, 12288) << l;
  }
  EXPECT_EQ(c.layers[0].ffn_dim, 6144);
  EXPECT_EQ(c.layers[4].type, LayerType::kFull);
  EXPECT_EQ(c.layers[34].type, LayerType::kFull);
  EXPECT_EQ(c.layers[4].head_dim, 512);
  EXPECT_EQ(c.layers[4].n_kv_heads, 1);  // no num_global_key_value_heads
  EXPECT_NEAR(c.embed_scale(), 39.19184f, 1e-4);
  EXPECT_EQ(Shape(c, TensorId::kPleEmbed, -1), (std::vector<int64_t>{262144, 8960}));
  EXPECT_EQ(Shape(c, TensorId::kQProj, 4), (std::vector<int64_t>{4096, 1536}));
  EXPECT_EQ(Shape(c, TensorId::kKProj, 0), (std::vector<int64_t>{256, 1536}));
  EXPECT_EQ(PresenceOf(c, TensorId::kKProj, 20), Presence::kIgnored);
  EXPECT_EQ(PresenceOf(c, TensorId::kPleGate, 3), Presence::kRequired);
  EXPECT_EQ(PresenceOf(c, TensorId::kRouterProj, 3), Presence::kAbsent);
}

TEST(Gemma4Config, E4B) {
  ModelConfig c = Gemma4E4B();
  EXPECT_EQ(c.first_shared_layer(), 24);
  EXPECT_EQ(CountOwners(c, LayerType::kSliding), 20);
  EXPECT_EQ(CountOwners(c, LayerType::kFull), 4);
  EXPECT_EQ(c.layers[30].kv_source, 22);
  EXPECT_EQ(c.layers[41].kv_source, 23);
  EXPECT_EQ(c.layers[41].ffn_dim, 10240);
  EXPECT_EQ(Shape(c, TensorId::kKProj, 5), (std::vector<int64_t>{1024, 2560}));
}

TEST(Gemma4Config, MoE26B) {
  ModelConfig c = Gemma4_26B_A4B();
  EXPECT_EQ(CountOwners(c, LayerType::kSliding), 25);
  EXPECT_EQ(CountOwners(c, LayerType::kFull), 5);
  const LayerConfig& f = c.layers[5];
  EXPECT_EQ(f.type, LayerType::kFull);
  EXPECT_EQ(f.n_kv_heads, 2);
  EXPECT_TRUE(f.k_eq_v);
  EXPECT_EQ(c.layers[0].n_kv_heads, 8);
  EXPECT_FALSE(c.layers[0].k_eq_v);
  EXPECT_TRUE(f.moe);
  EXPECT_EQ(PresenceOf(c, TensorId::kVProj, 5), Presence::kAbsent);
  EXPECT_EQ(PresenceOf(c, TensorId::kVProj, 4), Presence::kRequired);
  EXPECT_EQ(Shape(c, TensorId::kKProj, 5), (std::vector<int64_t>{1024, 2816}));
  EXPECT_EQ(Shape(c, TensorId::kExpertsGateUp, 0), (std::vector<int64_t>{128, 1408, 2816}));
  EXPECT_EQ(Shape(c, TensorId::kExpertsDown, 0), (std::vector<int64_t>{128, 2816, 704}));
  EXPECT_EQ(PresenceOf(c, TensorId::kPleEmbed, -1), Presence::kAbsent);
}

TEST(Gemma4Config, Dense31B) {
  ModelConfig c = Gemma4_31B();
  EXPECT_EQ(CountOwners(c, LayerType::kSliding), 50);
  EXPECT_EQ(CountOwners(c, LayerType::kFull), 10);
  EXPECT_EQ(c.layers[59].n_kv_heads, 4);
  EXPECT_EQ(Shape(c, TensorId::kOProj, 59), (std::vector<int64_t>{5376, 16384}));
  EXPECT_EQ(Shape(c, TensorId::kVProj, 0), (std::vector<int64_t>{4096, 5376}));
}

TEST(Gemma4Config, DefaultLayerTypesForceLastFull) {
  auto t = DefaultLayerTypes(8);
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[5], LayerType::kFull);
  EXPECT_EQ(t[7], LayerType::kFull);
  EXPECT_EQ(t[6], LayerType::kSliding);
}

TEST(Gemma4Config, ValidateNamesTheField) {
  ModelConfig c = Gemma4E2B();
  c.num_kv_heads = 3;
  absl::Status s = c.Finalize();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_key_value_heads"), std::string::npos) << s.message();

  c = Gemma4E2B();
  c.layer_types.pop_back();
  s = c.Finalize();
  EXPECT_NE(s.message().find("layer_types"), std::string::npos) << s.message();

  c = Gemma4E2B();
  c.rope_full.partial_rotary_factor = 1.5;
  s = c.Finalize();
  EXPECT_NE(s.message().find("partial_rotary_factor"), std::string::npos) << s.message();

  // A shared sliding layer needs an earlier non-shared sliding layer.
  c = Gemma4E2B();
  c.num_layers = 3;
  c.layer_types = {LayerType::kFull, LayerType::kSliding, LayerType::kFull};
  c.num_kv_shared_layers = 2;
  s = c.Finalize();
  EXPECT_NE(s.message().find("num_kv_shared_layers"), std::string::npos) << s.message();
}

TEST(Gemma4Config, ProportionalRope) {
  RopeConfig r{RopeType::kProportional, 1e6, 0.25, 1.0};
  auto f = RopeInvFreq(r, 512);
  ASSERT_EQ(f.size(), 256u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_GT(f[63], 0.0f);
  EXPECT_EQ(f[64], 0.0f);
  EXPECT_NEAR(f[10], std::pow(1e6, -20.0 / 512.0), 1e-7);  // denominator is the full head
  auto g = RopeInvFreq(r, 32);  // tiny fixtures: 4 of 16 pairs rotate
  EXPECT_GT(g[3], 0.0f);
  EXPECT_EQ(g[4], 0.0f);
  auto d = RopeInvFreq(RopeConfig{}, 256);
  EXPECT_GT(d[127], 0.0f);
}

TEST(Gemma4TensorTable, NamesRoundTrip) {
  ModelConfig c = Gemma4_26B_A4B();
  for (const TensorInfo& i : TensorTable()) {
    int64_t layer = i.per_layer ? 7 : -1;
    auto m = MatchHfName(HfName(i.id, layer));
    ASSERT_TRUE(m.has_value()) << HfName(i.id, layer);
    EXPECT_EQ(m->id, i.id);
    EXPECT_EQ(m->layer, layer);
  }
  EXPECT_EQ(HfName(TensorId::kQProj, 3), "layers.3.self_attn.q_proj.weight");
  EXPECT_EQ(GgufName(TensorId::kLayerScalar, 12), "blk.12.layer_output_scale.weight");
  EXPECT_EQ(GgufName(TensorId::kPleEmbed, -1), "per_layer_token_embd.weight");
  EXPECT_FALSE(MatchHfName("layers.x.self_attn.q_proj.weight").has_value());
  EXPECT_FALSE(MatchHfName("layers.3.self_attn.nope").has_value());
}

}  // namespace
}  // namespace sov::gemma4
