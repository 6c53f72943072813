#include "runtime/tokenizer_hf.h"

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ids: 0 <pad> 1 <eos> 2 <bos> 3 <unk> 4..259 <0x00>..<0xFF>, then
// 260 ▁  261 a  262 b  263 ab  264 ▁ab  265 <|turn>  266 \n
std::string Json(const std::string& merges = R"(["a b", ["▁", "ab"]])",
                 const std::string& type = "BPE") {
  std::string vocab = R"("<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3)";
  for (int b = 0; b < 256; ++b) vocab += absl::StrFormat(R"(, "<0x%02X>": %d)", b, 4 + b);
  vocab += R"(, "▁": 260, "a": 261, "b": 262, "ab": 263, "▁ab": 264)";
  return absl::StrFormat(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<pad>", "special": true},
      {"id": 1, "content": "<eos>", "special": true},
      {"id": 2, "content": "<bos>", "special": true},
      {"id": 3, "content": "<unk>", "special": true},
      {"id": 265, "content": "<|turn>", "special": true},
      {"id": 266, "content": "\n", "special": false}
    ],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
    "model": {"type": "%s", "byte_fallback": true, "vocab": {%s}, "merges": %s}
  })",
                         type, vocab, merges);
}

TEST(TokenizerHf, LoadsGemmaStyleBpe) {
  auto v = VocabFromHfTokenizerJson(Json(), "tokenizer.json");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->model, VocabModel::kBpe);
  EXPECT_EQ(v->tokens.size(), 267u);
  EXPECT_EQ(v->bos_id, 2);
  EXPECT_EQ(v->eos_id, 1);
  EXPECT_EQ(v->types[4], TokenType::kByte);
  EXPECT_EQ(v->types[265], TokenType::kControl);
  EXPECT_EQ(v->types[266], TokenType::kUserDefined);
  EXPECT_EQ(v->types[3], TokenType::kUnknown);
  EXPECT_THAT(v->merges, ElementsAre("a b", "▁ ab"));
  auto t = Tokenizer::Create(*std::move(v));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(*t->Encode(" ab\n<|turn>b\xC3\xA9"),
              ElementsAre(2, 264, 266, 265, 262, 4 + 0xC3, 4 + 0xA9));
  EXPECT_EQ(*t->Decode(*t->Encode(" ab\nb"), false), " ab\nb");
}

TEST(TokenizerHf, ErrorsNameTheKey) {
  auto err = [](const std::string& j) {
    return std::string(VocabFromHfTokenizerJson(j, "tok.json").status().message());
  };
  EXPECT_THAT(err(Json(R"(["a b"])", "Unigram")), HasSubstr("model.type"));
  EXPECT_THAT(err(Json("[]")), HasSubstr("model.merges"));
  EXPECT_THAT(err(Json(R"([3])")), HasSubstr("model.merges[0]"));
  EXPECT_THAT(err(R"({"model": {"type": "BPE", "vocab": {}, "merges": ["a b"]}})"),
              HasSubstr("model.vocab"));
  EXPECT_THAT(err(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": ["a b"]}})"),
              HasSubstr("no token has id 1"));
  EXPECT_THAT(err(R"({"model": {"type": "BPE", "vocab": {"a": 0, "a": 1}, "merges": ["a b"]}})"),
              HasSubstr("a"));
  EXPECT_THAT(err("{"), HasSubstr("tok.json"));
  EXPECT_THAT(err(absl::StrReplaceAll(Json(), {{R"("id": 265)", R"("id": 264)"}})),
              HasSubstr("id 264"));
  EXPECT_FALSE(TokenizerFromHfFile("/nonexistent/tokenizer.json").ok());
}

}  // namespace
}  // namespace sov
