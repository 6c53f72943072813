#include "runtime/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/check.h"
#include "runtime/tokenizer_gguf.h"
#include "runtime/tokenizer_test_util.h"

namespace sov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- Small hand-made vocabularies --------------------------------------------

// <pad> <eos> <bos> <unk> <0x00>..<0xFF>, then `extra` with their types/scores.
struct Piece {
  std::string text;
  float score;
  TokenType type = TokenType::kNormal;
};

Vocab MakeVocab(VocabModel model, const std::vector<Piece>& extra) {
  Vocab v;
  v.model = model;
  auto add = [&](std::string t, float s, TokenType ty) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(s);
    v.types.push_back(ty);
  };
  add("<pad>", -1000, TokenType::kControl);
  add("<eos>", -1000, TokenType::kControl);
  add("<bos>", -1000, TokenType::kControl);
  add("<unk>", -1000, TokenType::kUnknown);
  for (int b = 0; b < 256; ++b) add(absl::StrFormat("<0x%02X>", b), 0, TokenType::kByte);
  for (const Piece& p : extra) add(p.text, p.score, p.type);
  v.pad_id = 0;
  v.eos_id = 1;
  v.bos_id = 2;
  v.unk_id = 3;
  return v;
}

constexpr TokenId kFirstExtra = 4 + 256;

Tokenizer MakeSpm() {
  // Scores make "▁ab" beat "ab"+"c" style alternatives in a known order.
  Vocab v = MakeVocab(VocabModel::kSpm,
                      {
                          {"\xE2\x96\x81", -1},          // 260 ▁
                          {"a", -2},                     // 261
                          {"b", -3},                     // 262
                          {"c", -4},                     // 263
                          {"ab", -5},                    // 264
                          {"bc", -6},                    // 265
                          {"\xE2\x96\x81" "a", -7},      // 266 ▁a
                          {"\xE2\x96\x81" "ab", -8},     // 267 ▁ab
                          {"abc", -9},                   // 268
                          {"\n", 0, TokenType::kUserDefined},  // 269
                          {"<turn>", 0, TokenType::kControl},  // 270
                          {"<", -10},                    // 271
                          {">", -11},                    // 272
                          {"t", -12},                    // 273
                          {"u", -13},                    // 274
                          {"r", -14},                    // 275
                          {"n", -15},                    // 276
                      });
  v.add_bos = true;
  v.add_space_prefix = false;
  auto t = Tokenizer::Create(std::move(v));
  SOV_CHECK(t.ok()) << t.status();
  return *std::move(t);
}

TEST(TokenizerSpm, MergesHighestScoreFirst) {
  Tokenizer t = MakeSpm();
  EncodeOptions raw{.add_bos = false};
  // "ab" (-5) merges before "bc" (-6); then "abc" (-9) from "ab"+"c".
  EXPECT_THAT(*t.Encode("abc", raw), ElementsAre(kFirstExtra + 8));
  // " ab": ▁+a (-7) vs a+b (-5): "ab" first, then ▁+ab = "▁ab" (-8).
  EXPECT_THAT(*t.Encode(" ab", raw), ElementsAre(kFirstExtra + 7));
  // "bca": b+c (-6) is the only merge.
  EXPECT_THAT(*t.Encode("bca", raw), ElementsAre(kFirstExtra + 5, kFirstExtra + 1));
}

TEST(TokenizerSpm, ByteFallbackForUnknownCharacters) {
  Tokenizer t = MakeSpm();
  // 'é' = C3 A9 is not in the vocabulary.
  EXPECT_THAT(*t.Encode("a\xC3\xA9", {.add_bos = false}),
              ElementsAre(kFirstExtra + 1, 4 + 0xC3, 4 + 0xA9));
  EXPECT_EQ(*t.Decode(*t.Encode("a\xC3\xA9", {.add_bos = false})), "a\xC3\xA9");
}

TEST(TokenizerSpm, SpecialTokensWholeOrAsText) {
  Tokenizer t = MakeSpm();
  EXPECT_THAT(*t.Encode("<turn>a", {.add_bos = false}), ElementsAre(kFirstExtra + 10, 261));
  // As plain text the control token is spelled out, never produced by merging.
  auto plain = *t.Encode("<turn>a", {.add_bos = false, .parse_special = false});
  EXPECT_THAT(plain, ElementsAre(271, 273, 274, 275, 276, 272, 261));
  // User-defined tokens are cut out either way (llama.cpp does the same).
  EXPECT_THAT(*t.Encode("a\nb", {.add_bos = false, .parse_special = false}),
              ElementsAre(261, kFirstExtra + 9, 262));
}

TEST(TokenizerSpm, ExactlyOneBos) {
  Tokenizer t = MakeSpm();
  EXPECT_THAT(*t.Encode("a"), ElementsAre(2, 261));
  EXPECT_THAT(*t.Encode("<bos>a"), ElementsAre(2, 261));
  EXPECT_THAT(*t.Encode(""), ElementsAre(2));
  EXPECT_THAT(*t.Encode("", {.add_bos = false}), ElementsAre());
  // "<bos>" written as text with parsing off is text, so a real BOS is added.
  auto ids = *t.Encode("<bos>", {.parse_special = false});
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 1);
}

TEST(TokenizerSpm, DummyPrefixWhenAsked) {
  Vocab v = MakeSpm().vocab();
  v.add_space_prefix = true;
  Tokenizer t = *Tokenizer::Create(std::move(v));
  auto ids = *t.Encode("ab", {.add_bos = false});
  EXPECT_THAT(ids, ElementsAre(kFirstExtra + 7));  // "▁ab"
  EXPECT_EQ(*t.Decode(ids), "ab");                 // the added space is removed
}

TEST(TokenizerSpm, InvalidUtf8IsAnError) {
  Tokenizer t = MakeSpm();
  for (std::string bad : {std::string("a\xFF"), std::string("\xC3"), std::string("\xC0\xAF"),
                          std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"),
                          std::string("\x80")}) {
    auto r = t.Encode(bad);
    ASSERT_FALSE(r.ok()) << absl::CHexEscape(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("not valid UTF-8"));
  }
  auto r = t.Encode("ab\xFF");
  EXPECT_THAT(r.status().message(), HasSubstr("0xFF at offset 2"));
}

TEST(TokenizerSpm, DecodeRules) {
  Tokenizer t = MakeSpm();
  std::vector<TokenId> ids = {2, kFirstExtra + 7, kFirstExtra + 10, kFirstExtra + 9, 4 + 'x'};
  EXPECT_EQ(*t.Decode(ids), " ab\nx");
  EXPECT_EQ(*t.Decode(ids, /*render_special=*/true), "<bos> ab<turn>\nx");
  auto bad = t.Decode(std::vector<TokenId>{5, 100000});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("100000"));
}

TEST(TokenizerVocab, ErrorsNameTheKey) {
  Vocab empty;
  EXPECT_THAT(Tokenizer::Create(empty).status().message(), HasSubstr("tokenizer.ggml.tokens"));

  Vocab no_scores = MakeVocab(VocabModel::kSpm, {{"a", -1}});
  no_scores.scores.clear();
  EXPECT_THAT(Tokenizer::Create(no_scores).status().message(),
              HasSubstr("tokenizer.ggml.scores"));

  Vocab short_scores = MakeVocab(VocabModel::kSpm, {{"a", -1}});
  short_scores.scores.pop_back();
  EXPECT_THAT(Tokenizer::Create(short_scores).status().message(),
              HasSubstr("tokenizer.ggml.scores"));

  Vocab no_merges = MakeVocab(VocabModel::kBpe, {{"a", -1}});
  EXPECT_THAT(Tokenizer::Create(no_merges).status().message(),
              HasSubstr("tokenizer.ggml.merges"));

  Vocab bad_merge = MakeVocab(VocabModel::kBpe, {{"a", -1}});
  bad_merge.merges = {"ab"};
  EXPECT_THAT(Tokenizer::Create(bad_merge).status().message(),
              HasSubstr("tokenizer.ggml.merges[0]"));

  Vocab dup = MakeVocab(VocabModel::kSpm, {{"a", -1}, {"a", -2}});
  EXPECT_THAT(Tokenizer::Create(dup).status().message(), HasSubstr("appears at ids"));

  Vocab types = MakeVocab(VocabModel::kSpm, {{"a", -1}});
  types.types.pop_back();
  EXPECT_THAT(Tokenizer::Create(types).status().message(),
              HasSubstr("tokenizer.ggml.token_type"));

  Vocab bos = MakeVocab(VocabModel::kSpm, {{"a", -1}});
  bos.bos_id = 1 << 20;
  EXPECT_THAT(Tokenizer::Create(bos).status().message(),
              HasSubstr("tokenizer.ggml.bos_token_id"));

  Vocab no_bos = MakeVocab(VocabModel::kSpm, {{"a", -1}});
  no_bos.bos_id = -1;
  EXPECT_THAT(Tokenizer::Create(no_bos).status().message(),
              HasSubstr("tokenizer.ggml.add_bos_token"));
}

TEST(TokenizerBpe, RanksDecideNotScores) {
  Vocab v = MakeVocab(VocabModel::kBpe, {
                                            {"a", 0},      // 260
                                            {"b", 0},      // 261
                                            {"c", 0},      // 262
                                            {"ab", 0},     // 263
                                            {"bc", 0},     // 264
                                            {"abc", 0},    // 265
                                            {"\n", 0},     // 266
                                            {"\n\n", 0},   // 267
                                        });
  v.merges = {"b c", "a b", "a bc"};  // "bc" first, so "abc" = a + bc
  Tokenizer t = *Tokenizer::Create(v);
  EXPECT_THAT(*t.Encode("abc", {.add_bos = false}), ElementsAre(265));
  v.merges = {"a b", "b c"};  // now "ab" first and "ab c" is not a merge
  Tokenizer t2 = *Tokenizer::Create(v);
  EXPECT_THAT(*t2.Encode("abc", {.add_bos = false}), ElementsAre(263, 262));
  // Newline runs are split off and kept whole; no merge crosses them.
  EXPECT_THAT(*t2.Encode("ab\n\nbc", {.add_bos = false}), ElementsAre(263, 267, 264));
  // Unknown characters fall back to bytes; BOS is added once.
  EXPECT_THAT(*t2.Encode("\xC3\xA9"), ElementsAre(2, 4 + 0xC3, 4 + 0xA9));
}

// ---- UTF-8 and streaming -----------------------------------------------------

TEST(Utf8, CharLength) {
  EXPECT_EQ(Utf8CharLength("a"), 1);
  EXPECT_EQ(Utf8CharLength("\xC3\xA9"), 2);
  EXPECT_EQ(Utf8CharLength("\xE2\x96\x81"), 3);
  EXPECT_EQ(Utf8CharLength("\xF0\x9F\x98\x80"), 4);
  EXPECT_EQ(Utf8CharLength("\xF0\x9F\x98"), -1);  // incomplete
  EXPECT_EQ(Utf8CharLength("\xF0"), -1);
  EXPECT_EQ(Utf8CharLength("\x80"), 0);           // lone continuation
  EXPECT_EQ(Utf8CharLength("\xC1\x81"), 0);       // overlong
  EXPECT_EQ(Utf8CharLength("\xE0\x80\x80"), 0);   // overlong
  EXPECT_EQ(Utf8CharLength("\xED\xA0\x80"), 0);   // surrogate
  EXPECT_EQ(Utf8CharLength("\xF4\x90\x80\x80"), 0);  // > U+10FFFF
  EXPECT_EQ(Utf8CharLength("\xF0\x41"), 0);       // bad continuation
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  Tokenizer t = MakeSpm();
  StreamDecoder d(&t);
  // 😀 = F0 9F 98 80 as four byte tokens.
  EXPECT_EQ(*d.Push(261), "a");
  EXPECT_EQ(*d.Push(4 + 0xF0), "");
  EXPECT_EQ(d.pending(), 1u);
  EXPECT_EQ(*d.Push(4 + 0x9F), "");
  EXPECT_EQ(*d.Push(4 + 0x98), "");
  EXPECT_EQ(*d.Push(4 + 0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.Flush(), "");
}

TEST(StreamDecoder, ReplacesInvalidBytes) {
  Tokenizer t = MakeSpm();
  StreamDecoder d(&t);
  // A continuation byte with no lead, then a lead byte followed by ASCII.
  EXPECT_EQ(*d.Push(4 + 0x80), "\xEF\xBF\xBD");
  EXPECT_EQ(*d.Push(4 + 0xE2), "");
  EXPECT_EQ(*d.Push(261), "\xEF\xBF\xBD" "a");
  // Unfinished at the end of the stream.
  EXPECT_EQ(*d.Push(4 + 0xC3), "");
  EXPECT_EQ(d.Flush(), "\xEF\xBF\xBD");
  EXPECT_FALSE(d.Push(-1).ok());
}

// ---- The real Gemma 3 vocabulary ---------------------------------------------

class Gemma3Tokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(Gemma3GgufPath());
    if (!FileExists(*path_)) return;
    auto gguf = GgufReader::Open(*path_);
    ASSERT_TRUE(gguf.ok()) << gguf.status();
    auto t = TokenizerFromGguf(**gguf);
    ASSERT_TRUE(t.ok()) << t.status();
    tok_ = new Tokenizer(*std::move(t));
  }
  void SetUp() override {
    if (tok_ == nullptr) {
      GTEST_SKIP() << "gemma3-270m GGUF not found at " << *path_ << "; run scripts/setup.sh";
    }
  }
  static nlohmann::json Reference() {
    std::ifstream f(std::string(SOV_SOURCE_DIR) +
                    "/runtime/tokenizer_testdata/gemma3_reference.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
  }
  static inline std::string* path_ = nullptr;
  static inline Tokenizer* tok_ = nullptr;
};

TEST_F(Gemma3Tokenizer, VocabularyAsExpected) {
  EXPECT_EQ(tok_->size(), 262144);
  EXPECT_EQ(tok_->vocab().model, VocabModel::kSpm);
  EXPECT_EQ(tok_->bos_id(), 2);
  EXPECT_EQ(tok_->eos_id(), 1);
  EXPECT_FALSE(tok_->vocab().add_space_prefix);
  EXPECT_EQ(tok_->Find("<start_of_turn>"), 105);
  EXPECT_EQ(tok_->Find("<end_of_turn>"), 106);
}

TEST_F(Gemma3Tokenizer, MatchesReferenceIds) {
  nlohmann::json ref = Reference();
  ASSERT_EQ(ref["vocab_size"].get<int>(), tok_->size());
  int n = 0;
  for (const auto& c : ref["cases"]) {
    const std::string text = c["text"].get<std::string>();
    auto ids = tok_->Encode(text, {.add_bos = false});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c["ids"].get<std::vector<TokenId>>()) << "text: " << absl::CHexEscape(text);
    auto plain = tok_->Encode(text, {.add_bos = false, .parse_special = false});
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, c["ids_no_special"].get<std::vector<TokenId>>())
        << "text (specials as text): " << absl::CHexEscape(text);
    ++n;
  }
  EXPECT_GE(n, 25);
}

TEST_F(Gemma3Tokenizer, DecodeInvertsEncode) {
  const nlohmann::json ref = Reference();
  int checked = 0;
  for (const auto& c : ref["cases"]) {
    const std::string text = c["text"].get<std::string>();
    // A "▁" typed in the text is the escaped space and decodes as ' ' (as in
    // SentencePiece and llama.cpp); TypedEscapeDecodesAsSpace covers it.
    if (text.find("\xE2\x96\x81") != std::string::npos) continue;
    ++checked;
    // Specials parsed: rendering them gives the text back.
    // The one BOS is the text's own when it starts with "<bos>".
    auto ids = *tok_->Encode(text);
    EXPECT_EQ(ids.front(), 2);
    const std::string want = text.rfind("<bos>", 0) == 0 ? text : "<bos>" + text;
    EXPECT_EQ(*tok_->Decode(ids, /*render_special=*/true), want);
    // Specials as text: plain decoding gives the text back.
    auto plain = *tok_->Encode(text, {.add_bos = false, .parse_special = false});
    EXPECT_EQ(*tok_->Decode(plain), text);
  }
  EXPECT_GE(checked, 200);
}

// The gemma4 (merge-list BPE) path on a 262k vocabulary: merges derived from
// the Gemma 3 scores the way the reference generator derives them (every split
// of a normal token into two tokens, ranked by the token's falling score) must
// reproduce the SentencePiece-style results exactly.
TEST_F(Gemma3Tokenizer, MergeListBpeMatchesReference) {
  const Vocab& spm = tok_->vocab();
  struct M {
    float neg_score;
    int32_t id;
    size_t k;
  };
  std::vector<M> ms;
  for (size_t i = 0; i < spm.tokens.size(); ++i) {
    const std::string& t = spm.tokens[i];
    if (spm.types[i] != TokenType::kNormal) continue;
    for (size_t k = 1; k < t.size(); ++k) {
      if (Utf8CharLength(std::string_view(t).substr(k)) <= 0) continue;  // mid-character
      if (tok_->Find(t.substr(0, k)) && tok_->Find(t.substr(k))) {
        ms.push_back({-spm.scores[i], static_cast<int32_t>(i), k});
      }
    }
  }
  std::sort(ms.begin(), ms.end(), [](const M& a, const M& b) {
    return std::tie(a.neg_score, a.id, a.k) < std::tie(b.neg_score, b.id, b.k);
  });
  Vocab bpe = spm;
  bpe.model = VocabModel::kBpe;
  bpe.merges.clear();
  for (const M& m : ms) {
    const std::string& t = spm.tokens[m.id];
    bpe.merges.push_back(t.substr(0, m.k) + " " + t.substr(m.k));
  }
  auto t = Tokenizer::Create(std::move(bpe));
  ASSERT_TRUE(t.ok()) << t.status();
  const nlohmann::json ref = Reference();
  for (const auto& c : ref["cases"]) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(*t->Encode(text, {.add_bos = false}), c["ids"].get<std::vector<TokenId>>())
        << "text: " << absl::CHexEscape(text);
  }
}

TEST_F(Gemma3Tokenizer, TypedEscapeDecodesAsSpace) {
  auto ids = *tok_->Encode("a\xE2\x96\x81" "b", {.add_bos = false});
  EXPECT_EQ(ids, *tok_->Encode("a b", {.add_bos = false}));
  EXPECT_EQ(*tok_->Decode(ids), "a b");
}

TEST_F(Gemma3Tokenizer, StreamingNeverSplitsACharacter) {
  // Rare letters here are not in the vocabulary and arrive as byte tokens.
  const std::string text = "emoji 😀 and 𝔘𝔫𝔦 and 𓀀 done";
  auto ids = *tok_->Encode(text, {.add_bos = false});
  StreamDecoder d(tok_);
  std::string joined;
  int held = 0;
  for (TokenId id : ids) {
    std::string part = *d.Push(id);
    EXPECT_TRUE(ValidateUtf8(part).ok()) << absl::CHexEscape(part);
    if (part.empty() && d.pending() > 0) ++held;
    joined += part;
  }
  joined += d.Flush();
  EXPECT_EQ(joined, text);
  EXPECT_GE(held, 3);  // the byte-fallback characters were held back
}

TEST_F(Gemma3Tokenizer, OneBos) {
  EXPECT_THAT(*tok_->Encode("Hello world"), ElementsAre(2, 9259, 1902));
  EXPECT_THAT(*tok_->Encode("<bos>Hello world"), ElementsAre(2, 9259, 1902));
}

}  // namespace
}  // namespace sov
