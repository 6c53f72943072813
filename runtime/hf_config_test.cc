#include "runtime/hf_config.h"

#include <stdlib.h>

#include <cstdio>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/check.h"

namespace sov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFlat[] = R"({
  "architectures": ["Gemma4ForCausalLM"],
  "model_type": "gemma4_text",
  "hidden_size": 64,
  "rms_norm_eps": 1e-06,
  "rope_theta_like_int": 10000,
  "final_logit_softcapping": 30.0,
  "num_global_key_value_heads": null,
  "tie_word_embeddings": true,
  "layer_types": ["sliding_attention", "full_attention"],
  "eos_token_id": [1, 106],
  "rope_parameters": {"full_attention": {"rope_type": "proportional"}}
})";

constexpr char kNested[] = R"({
  "model_type": "gemma4",
  "image_token_id": 258880,
  "text_config": {"model_type": "gemma4_text", "hidden_size": 128},
  "vision_config": {"model_type": "gemma4_vision", "hidden_size": 32}
})";

TEST(HfConfigTest, FlatTextConfig) {
  absl::StatusOr<HfConfig> c = ParseHfConfig(kFlat, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "gemma4_text");
  EXPECT_EQ(c->text_model_type, "gemma4_text");
  EXPECT_FALSE(c->nested);
  EXPECT_EQ(*GetInt(c->text, "hidden_size"), 64);
}

TEST(HfConfigTest, NestedTextConfig) {
  absl::StatusOr<HfConfig> c = ParseHfConfig(kNested, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "gemma4");
  EXPECT_EQ(c->text_model_type, "gemma4_text");
  EXPECT_TRUE(c->nested);
  EXPECT_EQ(*GetInt(c->text, "hidden_size"), 128);  // not the vision 32
  EXPECT_EQ(*GetInt(c->root, "image_token_id"), 258880);
}

TEST(HfConfigTest, Gemma3Families) {
  absl::StatusOr<HfConfig> nested =
      ParseHfConfig(R"({"model_type": "gemma3", "text_config": {"hidden_size": 7}})", "g3.json");
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(nested->text_model_type, "gemma3_text");
  EXPECT_EQ(*GetInt(nested->text, "hidden_size"), 7);
  absl::StatusOr<HfConfig> flat =
      ParseHfConfig(R"({"model_type": "gemma3_text", "hidden_size": 9})", "g3t.json");
  ASSERT_TRUE(flat.ok());
  EXPECT_FALSE(flat->nested);
  EXPECT_EQ(*GetInt(flat->text, "hidden_size"), 9);
}

TEST(HfConfigTest, UnknownModelTypeListsSupported) {
  absl::StatusOr<HfConfig> c = ParseHfConfig(R"({"model_type": "llama"})", "cfg/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("cfg/config.json"));
  EXPECT_THAT(c.status().message(), HasSubstr("unsupported model_type \"llama\""));
  EXPECT_THAT(c.status().message(), HasSubstr("gemma4_text, gemma4, gemma3_text, gemma3"));
}

TEST(HfConfigTest, StructuralErrors) {
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {R"({"hidden_size": 3})", "missing key \"model_type\""},
      {R"({"model_type": 4})", "key \"model_type\": expected a string, got integer 4"},
      {R"([1])", "expected a JSON object, got array"},
      {R"({"model_type": "gemma4"})", "needs a text config: missing key \"text_config\""},
      {R"({"model_type": "gemma4", "text_config": []})", "expected an object, got array"},
      {R"({"model_type": "gemma4", "text_config": {"model_type": "gemma4_vision"}})",
       "text_config.model_type is \"gemma4_vision\", expected \"gemma4_text\""},
      {R"({"model_type": "gemma4_text", "hidden_size": 1, "hidden_size": 2})",
       "duplicate key \"hidden_size\""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HfConfig> r = ParseHfConfig(c.json, "x/config.json");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr("x/config.json")) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expect)) << c.json;
  }
}

TEST(HfConfigTest, BadJsonGivesPosition) {
  absl::StatusOr<HfConfig> c = ParseHfConfig(
      "{\n  \"model_type\": \"gemma4_text\",\n  \"hidden_size\": 64,,\n}", "m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("m/config.json"));
  EXPECT_THAT(c.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(c.status().message(), HasSubstr("invalid JSON"));
}

TEST(HfConfigTest, ReadsFromDirectoryAndFile) {
  std::string dir = ::testing::TempDir() + "/sov_cfg_XXXXXX";
  SOV_CHECK(mkdtemp(dir.data()) != nullptr);
  const std::string file = dir + "/config.json";
  std::FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs(kNested, f);
  std::fclose(f);
  for (const std::string& p : {dir, file}) {
    absl::StatusOr<HfConfig> c = ReadHfConfig(p);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->path, file);
    EXPECT_EQ(*GetInt(c->text, "hidden_size"), 128);
  }
  absl::StatusOr<HfConfig> missing = ReadHfConfig(dir + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir + "/nope"));
}

TEST(JsonGettersTest, TypedValuesAndDefaults) {
  absl::StatusOr<nlohmann::json> j = ParseJsonStrict(kFlat, "c");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(*GetInt(*j, "hidden_size"), 64);
  EXPECT_EQ(*GetIntOr(*j, "absent", 5), 5);
  EXPECT_EQ(*GetIntOr(*j, "num_global_key_value_heads", 7), 7);  // null -> default
  EXPECT_DOUBLE_EQ(*GetDouble(*j, "rms_norm_eps"), 1e-6);
  EXPECT_DOUBLE_EQ(*GetDouble(*j, "rope_theta_like_int"), 10000.0);
  EXPECT_DOUBLE_EQ(*GetDoubleOr(*j, "absent", 2.5), 2.5);
  EXPECT_TRUE(*GetBool(*j, "tie_word_embeddings"));
  EXPECT_FALSE(*GetBoolOr(*j, "absent", false));
  EXPECT_EQ(*GetString(*j, "model_type"), "gemma4_text");
  EXPECT_EQ(*GetStringOr(*j, "absent", "x"), "x");
  EXPECT_THAT(*GetStringArray(*j, "layer_types"),
              ElementsAre("sliding_attention", "full_attention"));
  EXPECT_THAT(*GetStringArrayOr(*j, "absent", {"a"}), ElementsAre("a"));
  EXPECT_THAT(*GetIntArray(*j, "eos_token_id"), ElementsAre(1, 106));
  absl::StatusOr<const nlohmann::json*> rope = GetObject(*j, "rope_parameters");
  ASSERT_TRUE(rope.ok());
  EXPECT_TRUE((*rope)->contains("full_attention"));
  EXPECT_EQ(*GetObjectOrNull(*j, "absent"), nullptr);
}

TEST(JsonGettersTest, ErrorsNameKeyAndType) {
  absl::StatusOr<nlohmann::json> j = ParseJsonStrict(
      R"({"h": "abc", "f": 1.5, "l": ["a", 3], "b": 1, "big": 18446744073709551615, "n": null})",
      "c");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(GetInt(*j, "h").status().message(),
            "key \"h\": expected an integer, got string \"abc\"");
  EXPECT_THAT(GetInt(*j, "f").status().message(), HasSubstr("expected an integer, got number 1.5"));
  EXPECT_THAT(GetInt(*j, "big").status().message(), HasSubstr("fits in int64"));
  EXPECT_THAT(GetIntOr(*j, "h", 1).status().message(), HasSubstr("key \"h\""));  // present, wrong
  EXPECT_THAT(GetInt(*j, "missing").status().message(), HasSubstr("missing key \"missing\""));
  EXPECT_EQ(GetInt(*j, "missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(GetInt(*j, "n").status().message(), HasSubstr("got null"));
  EXPECT_THAT(GetBool(*j, "b").status().message(), HasSubstr("expected a boolean, got integer"));
  EXPECT_THAT(GetDouble(*j, "h").status().message(), HasSubstr("expected a number"));
  EXPECT_THAT(GetString(*j, "f").status().message(), HasSubstr("expected a string"));
  EXPECT_THAT(GetStringArray(*j, "l").status().message(),
              HasSubstr("key \"l[1]\": expected a string, got integer 3"));
  EXPECT_THAT(GetIntArray(*j, "l").status().message(), HasSubstr("key \"l[0]\""));
  EXPECT_THAT(GetObject(*j, "h").status().message(), HasSubstr("expected an object"));
  EXPECT_THAT(GetInt(nlohmann::json::array(), "x").status().message(), HasSubstr("not an object"));
}

TEST(JsonStrictTest, DuplicatesAtAnyDepth) {
  EXPECT_TRUE(
      ParseJsonStrict(R"({"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]})", "s").ok());
  absl::StatusOr<nlohmann::json> nested = ParseJsonStrict(R"({"a": [{"k": 1, "k": 2}]})", "s.json");
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(nested.status().message(), HasSubstr("s.json: invalid JSON: duplicate key \"k\""));
}

}  // namespace
}  // namespace sov
