// HF config.json -> gemma4::ModelConfig mapping (runtime/loader).
#include <string>

#include "gtest/gtest.h"
#include "models/gemma4/config.h"
#include "runtime/hf_config.h"
#include "runtime/loader.h"

namespace sov {
namespace {

using gemma4::LayerType;
using gemma4::ModelConfig;

absl::StatusOr<ModelConfig> FromText(const std::string& text) {
  absl::StatusOr<HfConfig> hf = ParseHfConfig(text, "config.json");
  if (!hf.ok()) return hf.status();
  return Gemma4ConfigFromHf(*hf);
}

// The published E2B text config, nested as in the released checkpoints.
const char* kE2B = R"({
  "model_type": "gemma4",
  "text_config": {
    "model_type": "gemma4_text",
    "vocab_size": 262144, "hidden_size": 1536, "intermediate_size": 6144,
    "use_double_wide_mlp": true, "num_hidden_layers": 35,
    "layer_types": ["sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                    "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"],
    "sliding_window": 512, "num_attention_heads": 8, "num_key_value_heads": 1,
    "num_global_key_value_heads": null, "head_dim": 256, "global_head_dim": 512,
    "attention_k_eq_v": false,
    "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                           "rope_theta": 1000000.0}},
    "hidden_size_per_layer_input": 256, "vocab_size_per_layer_input": 262144,
    "num_kv_shared_layers": 20, "enable_moe_block": false,
    "final_logit_softcapping": 30.0, "rms_norm_eps": 1e-06,
    "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131072,
    "tie_word_embeddings": true, "eos_token_id": [1, 106]
  }
})";

TEST(Gemma4HfConfig, E2BMatchesBuiltin) {
  absl::StatusOr<ModelConfig> c = FromText(kE2B);
  ASSERT_TRUE(c.ok()) << c.status();
  ModelConfig ref = gemma4::Gemma4E2B();
  EXPECT_EQ(c->layer_types, ref.layer_types);
  ASSERT_EQ(c->layers.size(), ref.layers.size());
  for (size_t l = 0; l < ref.layers.size(); ++l) {
    EXPECT_EQ(c->layers[l].head_dim, ref.layers[l].head_dim) << l;
    EXPECT_EQ(c->layers[l].n_kv_heads, ref.layers[l].n_kv_heads) << l;
    EXPECT_EQ(c->layers[l].kv_source, ref.layers[l].kv_source) << l;
    EXPECT_EQ(c->layers[l].ffn_dim, ref.layers[l].ffn_dim) << l;
  }
  EXPECT_EQ(c->ple_dim, 256);
  EXPECT_EQ(c->final_logit_softcapping, 30.0);
  EXPECT_EQ(c->rope_full.partial_rotary_factor, 0.25);
  EXPECT_EQ(c->eos_token_id, 1);
}

TEST(Gemma4HfConfig, DefaultsWhenAbsent) {
  absl::StatusOr<ModelConfig> c = FromText(R"({"model_type": "gemma4_text",
      "num_hidden_layers": 8, "vocab_size": 300, "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16})");
  ASSERT_TRUE(c.ok()) << c.status();
  // every 6th layer full, the last forced full
  EXPECT_EQ(c->layer_types[5], LayerType::kFull);
  EXPECT_EQ(c->layer_types[7], LayerType::kFull);
  EXPECT_EQ(c->layer_types[6], LayerType::kSliding);
  EXPECT_EQ(c->global_head_dim, 512);
  EXPECT_EQ(c->sliding_window, 512);
  EXPECT_EQ(c->ple_dim, 256);  // HF default has PLE
  EXPECT_EQ(c->final_logit_softcapping, 0.0);  // HF default: no softcap
  EXPECT_EQ(c->rope_full.type, gemma4::RopeType::kProportional);
  EXPECT_EQ(c->rope_sliding.theta, 10000.0);
}

TEST(Gemma4HfConfig, NullMeansOff) {
  absl::StatusOr<ModelConfig> c = FromText(R"({"model_type": "gemma4_text",
      "num_hidden_layers": 2, "vocab_size": 300, "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "hidden_size_per_layer_input": null, "global_head_dim": null,
      "layer_types": ["sliding_attention", "sliding_attention"]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->has_ple());
  EXPECT_EQ(c->global_head_dim, 16);
  EXPECT_EQ(c->layer_types[1], LayerType::kFull);  // forced
}

TEST(Gemma4HfConfig, GlobalKvHeadsOnlyWithKEqV) {
  const char* base = R"({"model_type": "gemma4_text", "num_hidden_layers": 2, "vocab_size": 300,
      "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
      "num_global_key_value_heads": 1, "head_dim": 16, "global_head_dim": 32,
      "hidden_size_per_layer_input": 0, "attention_k_eq_v": %s})";
  char buf[1024];
  std::snprintf(buf, sizeof(buf), base, "true");
  absl::StatusOr<ModelConfig> c = FromText(buf);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layers[1].n_kv_heads, 1);
  EXPECT_TRUE(c->layers[1].k_eq_v);
  EXPECT_EQ(c->layers[0].n_kv_heads, 2);
  std::snprintf(buf, sizeof(buf), base, "false");
  c = FromText(buf);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layers[1].n_kv_heads, 2);
  EXPECT_FALSE(c->layers[1].k_eq_v);
}

TEST(Gemma4HfConfig, ErrorsNameTheKey) {
  auto err = [](const std::string& text) {
    absl::StatusOr<ModelConfig> c = FromText(text);
    return c.ok() ? std::string("OK") : std::string(c.status().message());
  };
  EXPECT_NE(err(R"({"model_type": "llama"})").find("llama"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3_text"})").find("not a Gemma 4"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "hidden_size": "big"})").find("hidden_size"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "num_hidden_layers": 2,
                    "layer_types": ["sliding_attention", "linear"]})")
                .find("layer_types[1]"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "num_hidden_layers": 2,
                    "layer_types": ["full_attention"]})")
                .find("layer_types"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "rope_parameters":
                    {"full_attention": {"rope_type": "yarn", "rope_theta": 1.0}}})")
                .find("rope_parameters.full_attention.rope_type"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "num_key_value_heads": 3})")
                .find("num_key_value_heads"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma4_text", "hidden_activation": "silu"})")
                .find("hidden_activation"),
            std::string::npos);
}

TEST(Gemma4HfConfig, PerLayerConfigOverrides) {
  // transformers >= 5 writes the full-layer geometry as per_layer_config.
  absl::StatusOr<ModelConfig> c = FromText(R"({"model_type": "gemma4_text",
      "num_hidden_layers": 4, "vocab_size": 300, "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "hidden_size_per_layer_input": 0, "attention_k_eq_v": true,
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
      "per_layer_config": {"1": {"head_dim": 32, "num_key_value_heads": 1},
                           "3": {"head_dim": 32, "num_key_value_heads": 1}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layers[1].head_dim, 32);
  EXPECT_EQ(c->layers[1].n_kv_heads, 1);
  EXPECT_EQ(c->layers[2].head_dim, 16);
  EXPECT_EQ(c->layers[2].n_kv_heads, 2);
  EXPECT_TRUE(c->layers[3].k_eq_v);

  // An empty per_layer_config means no overrides at all (not the 512 default).
  c = FromText(R"({"model_type": "gemma4_text", "num_hidden_layers": 2, "vocab_size": 300,
      "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "per_layer_config": {}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->layers[1].head_dim, 16);

  c = FromText(R"({"model_type": "gemma4_text", "num_hidden_layers": 2, "vocab_size": 300,
      "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "per_layer_config": {"7": {"head_dim": 32}}})");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("per_layer_config"), std::string::npos) << c.status();
}

TEST(Gemma4HfConfig, CheckTokens) {
  ModelConfig c = gemma4::Gemma4E2B();
  std::vector<int32_t> ok = {2, 818, 5};
  EXPECT_TRUE(CheckTokens(c, ok).ok());
  std::vector<int32_t> empty;
  EXPECT_FALSE(CheckTokens(c, empty).ok());
  std::vector<int32_t> big = {2, 262144};
  absl::Status s = CheckTokens(c, big);
  EXPECT_NE(s.message().find("262144"), std::string::npos) << s;
  std::vector<int32_t> neg = {-1};
  EXPECT_FALSE(CheckTokens(c, neg).ok());
  c.ple_vocab = 1000;  // a PLE table smaller than the vocabulary
  std::vector<int32_t> beyond_ple = {2, 1000};
  s = CheckTokens(c, beyond_ple);
  EXPECT_NE(s.message().find("vocab_size_per_layer_input"), std::string::npos) << s;
}

}  // namespace
}  // namespace sov
