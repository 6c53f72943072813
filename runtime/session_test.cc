// The text path end to end on a tiny random Gemma 3 GGUF written by the test
// (runs everywhere): loading and its errors, decode vs prefill, exactly one
// BOS, chat history kept in the KV cache, and the `sov run` text CLI.
#include "runtime/session.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/gemma3/config.h"
#include "runtime/chat_template.h"
#include "runtime/executor.h"
#include "runtime/gemma3_gguf.h"
#include "runtime/gemma3_test_util.h"
#include "runtime/gguf_model.h"
#include "runtime/loader.h"
#include "runtime/text_model.h"

namespace sov {
namespace {

using ::testing::HasSubstr;
using testing::TinyGemma3Options;
using testing::WriteTinyGemma3;

std::string TmpPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/session_test_", getpid(), "_", name);
}

std::string TinyModel(const TinyGemma3Options& o = {}, const std::string& name = "tiny.gguf") {
  const std::string p = TmpPath(name);
  const absl::Status s = WriteTinyGemma3(p, o);
  EXPECT_TRUE(s.ok()) << s;
  return p;
}

TEST(TextModelTest, LoadsTinyGemma3) {
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(TinyModel());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->architecture, "gemma3");
  EXPECT_EQ((*m)->vocab_size, static_cast<int64_t>(testing::TinyGemma3Tokens().size()));
  EXPECT_EQ((*m)->tokenizer->size(), (*m)->vocab_size);
  EXPECT_EQ((*m)->context_length, 256);
  EXPECT_EQ((*m)->chat_format, ChatFormat::kGemma3);
  absl::StatusOr<gemma3::ModelConfig> c = Gemma3ConfigFromGguf(*(*m)->gguf);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->global_layers, (std::vector<bool>{false, false, false, false, false, true}));
  EXPECT_FLOAT_EQ(c->query_scale(), 1.0f / std::sqrt(32.0f));
}

TEST(TextModelTest, Errors) {
  auto err = [](const std::string& path) {
    absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(path);
    EXPECT_FALSE(m.ok());
    return std::string(m.status().message());
  };
  EXPECT_THAT(err(TmpPath("does_not_exist.gguf")), HasSubstr("does not exist"));
  const std::string text = TmpPath("not_gguf.txt");
  std::ofstream(text) << "hello";
  EXPECT_THAT(err(text), HasSubstr("is not a GGUF file"));
  EXPECT_THAT(err(TinyModel({.with_vocab = false}, "novocab.gguf")),
              HasSubstr("tokenizer.ggml.model is missing"));
  EXPECT_THAT(err(TinyModel({.drop_tokens = 7}, "truncated.gguf")), HasSubstr("truncated"));
  EXPECT_THAT(err(TinyModel({.architecture = "llama"}, "llama.gguf")),
              HasSubstr("architecture \"llama\" is not supported"));
}

// Every row of a prefill equals the logits of decoding the same tokens one at
// a time, across prefill chunks and past the sliding window.
TEST(SessionTest, DecodeMatchesPrefillOnTinyModel) {
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(TinyModel());
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<graph::Graph> g = (*m)->build_graph(/*last_row_only=*/false);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<Executor>> ex =
      Executor::Create(*g, *(*m)->weights, {.prefill_rows = 5, .context = 32, .threads = 1});
  ASSERT_TRUE(ex.ok()) << ex.status();
  const std::vector<int32_t> ids = {2, 270, 271, 100, 269, 9, 33, 7, 270, 271, 100, 5, 40};
  absl::StatusOr<Logits> all = (*ex)->Prefill(ids);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->rows, static_cast<int64_t>(ids.size()));
  (*ex)->Reset();
  double worst = 0.0, scale = 0.0;
  for (size_t t = 0; t < ids.size(); ++t) {
    absl::StatusOr<Logits> one = (*ex)->Decode(ids[t]);
    ASSERT_TRUE(one.ok()) << one.status();
    for (int64_t v = 0; v < all->cols; ++v) {
      worst = std::max(worst, std::fabs(double(one->row(0)[v]) - all->row(t)[v]));
      scale = std::max(scale, std::fabs(double(all->row(t)[v])));
    }
  }
  // kernels/api.h: a batched MatMul row is bitwise equal to the T = 1 call and
  // attention merges key chunks in a fixed order, so decode must equal prefill.
  std::printf("  decode vs prefill: max |diff| %.3g over logits up to %.3g\n", worst, scale);
  EXPECT_EQ(worst, 0.0) << "max |logit| " << scale;
}

GenerateOptions Greedy(int64_t n, bool stops = true) {
  GenerateOptions o;
  o.max_new_tokens = n;
  o.use_stop_ids = stops;
  return o;
}

TEST(SessionTest, OneBosAndDeterministicGreedy) {
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(TinyModel());
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(**m, {.context = 64});
  ASSERT_TRUE(s.ok()) << s.status();
  std::string streamed;
  absl::StatusOr<GenerationResult> a =
      (*s)->Complete("the cat", Greedy(8, false), [&](std::string_view t) { streamed += t; });
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->tokens.size(), 8u);
  EXPECT_EQ(streamed, a->text);
  EXPECT_TRUE(ValidateUtf8(a->text).ok());
  ASSERT_FALSE((*s)->history().empty());
  EXPECT_EQ((*s)->history()[0], 2);
  const std::vector<TokenId> first_history = (*s)->history();
  // A prompt that spells its own <bos> still gets exactly one.
  absl::StatusOr<GenerationResult> b = (*s)->Complete("<bos>the cat", Greedy(8, false));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(std::count((*s)->history().begin(), (*s)->history().end(), 2),
            std::count(first_history.begin(), first_history.end(), 2));
  EXPECT_EQ(b->tokens, a->tokens);  // same ids in, same greedy ids out
  EXPECT_EQ(a->prompt_tokens, b->prompt_tokens);
  EXPECT_EQ(a->decode_steps, 7);
  EXPECT_GT(a->prefill_tps(), 0.0);
  EXPECT_GT(a->decode_tps(), 0.0);
}

TEST(SessionTest, InputErrors) {
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(TinyModel());
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(**m, {.context = 8});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT((*s)->Complete("", Greedy(4)).status().message(), HasSubstr("empty"));
  EXPECT_THAT((*s)->Complete("a\xff", Greedy(4)).status().message(), HasSubstr("UTF-8"));
  EXPECT_THAT((*s)->Complete("a b c a b c a b c a b c", Greedy(4)).status().message(),
              HasSubstr("more than the context of 8"));
  const std::vector<TokenId> bad = {2, 100000};
  EXPECT_THAT((*s)->CompleteTokens(bad, Greedy(4)).status().message(),
              HasSubstr("outside the vocabulary"));
  // Generation that reaches the end of the cache stops cleanly.
  absl::StatusOr<GenerationResult> r = (*s)->Complete("abc", Greedy(100, false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stop, StopReason::kContextFull);
  EXPECT_EQ(r->prompt_tokens + r->decode_steps, 8);
}

// A second chat turn continues the KV cache: it must generate what a fresh
// prefill of the whole conversation generates, and the cached ids must be the
// template's rendering of that conversation.
TEST(SessionTest, ChatKeepsHistoryInCache) {
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(TinyModel());
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(**m, {.context = 128});
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<GenerationResult> t1 = (*s)->Chat("the cat", Greedy(5, false));
  ASSERT_TRUE(t1.ok()) << t1.status();
  absl::StatusOr<std::vector<TokenId>> turn1 = EncodeChat(
      ChatFormat::kGemma3, *(*m)->tokenizer, std::vector<ChatMessage>{{"user", "the cat"}});
  ASSERT_TRUE(turn1.ok());
  EXPECT_EQ(t1->prompt_tokens, static_cast<int64_t>(turn1->size()));

  absl::StatusOr<GenerationResult> t2 = (*s)->Chat("is", Greedy(6, false));
  ASSERT_TRUE(t2.ok()) << t2.status();
  // Expected cache: turn 1, the 5 reply ids, "<end_of_turn>\n", turn 2 without <bos>.
  std::vector<TokenId> want = *turn1;
  want.insert(want.end(), t1->tokens.begin(), t1->tokens.end());
  absl::StatusOr<std::vector<TokenId>> close =
      (*m)->tokenizer->Encode("<end_of_turn>\n", {.add_bos = false, .parse_special = true});
  ASSERT_TRUE(close.ok());
  want.insert(want.end(), close->begin(), close->end());
  absl::StatusOr<std::vector<TokenId>> turn2 =
      EncodeChat(ChatFormat::kGemma3, *(*m)->tokenizer, std::vector<ChatMessage>{{"user", "is"}});
  ASSERT_TRUE(turn2.ok());
  want.insert(want.end(), turn2->begin() + 1, turn2->end());
  const std::vector<TokenId>& h = (*s)->history();
  ASSERT_EQ(h.size(), want.size() + t2->decode_steps);
  EXPECT_EQ(std::vector<TokenId>(h.begin(), h.begin() + want.size()), want);

  absl::StatusOr<std::unique_ptr<Session>> fresh = Session::Create(**m, {.context = 128});
  ASSERT_TRUE(fresh.ok());
  absl::StatusOr<GenerationResult> f = (*fresh)->CompleteTokens(want, Greedy(6, false));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tokens, t2->tokens);
}

// A Gemma 4 GGUF (sov synth's test-tiny, with the tiny vocabulary copied in)
// runs through the same TextModel and Session, in the Gemma 4 chat format,
// and gives the same greedy ids as the Gemma 4 runner on the same file.
TEST(SessionTest, Gemma4GgufThroughTheSameSession) {
  const std::string vocab = TinyModel({}, "vocab_src.gguf");
  const std::string g4 = TmpPath("g4tiny.gguf");
  const std::string cmd = absl::StrCat(SOV_BIN_PATH, " synth --arch test-tiny --type Q8_0 -o ", g4,
                                       " --vocab ", vocab, " --quiet --threads 1");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(g4);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->architecture, "gemma4");
  EXPECT_EQ((*m)->chat_format, ChatFormat::kGemma4);
  EXPECT_EQ((*m)->vocab_size, 512);
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(**m, {.context = 64});
  ASSERT_TRUE(s.ok()) << s.status();
  const std::vector<TokenId> ids = {2, 270, 271, 100, 269};
  absl::StatusOr<GenerationResult> r = (*s)->CompleteTokens(ids, Greedy(6, false));
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<std::unique_ptr<Gemma4Model>> direct = LoadGemma4Gguf(g4);
  ASSERT_TRUE(direct.ok()) << direct.status();
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> runner =
      Gemma4Runner::Create(**direct, {.max_tokens = 5, .context = 16});
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<std::vector<int32_t>> want = (*runner)->Generate(ids, 6);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ(r->tokens, *want);
}

// ---- CLI -------------------------------------------------------------------------

struct CliResult {
  int rc;
  std::string out, err;
};

std::string Slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CliResult RunSov(const std::string& args) {
  const std::string out = TmpPath("cli.out"), err = TmpPath("cli.err");
  const std::string cmd =
      absl::StrCat(SOV_BIN_PATH, " run ", args, " > ", out, " 2> ", err, " < /dev/null");
  const int st = std::system(cmd.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, Slurp(out), Slurp(err)};
}

TEST(RunCliTest, GeneratesAndReportsSpeed) {
  const std::string m = TinyModel();
  CliResult r = RunSov(absl::StrCat("-m ", m, " -p 'the cat' -n 6 --threads 1"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("prefill"));
  EXPECT_THAT(r.err, HasSubstr("tokens/s"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("tokens/s")));  // stdout is only the text
  // --tokens on a GGUF: exactly -n ids.
  r = RunSov(absl::StrCat("-m ", m, " --tokens 2,270,271 -n 5"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 4) << r.out;
}

TEST(RunCliTest, Errors) {
  const std::string m = TinyModel();
  auto fails = [](const std::string& args, const std::string& msg) {
    CliResult r = RunSov(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_THAT(r.err, HasSubstr(msg)) << args;
  };
  fails(absl::StrCat("-m ", m, " -p ''"), "empty");
  fails(absl::StrCat("-m ", m, " -p 'the cat is the cat is' --ctx 4"),
        "more than the context of 4");
  fails(absl::StrCat("-m ", m, " -p \"$(printf 'a\\377')\""), "UTF-8");
  fails(absl::StrCat("-m ", TinyModel({.with_vocab = false}, "cli_novocab.gguf"), " -p hi"),
        "tokenizer.ggml.model is missing");
  fails(absl::StrCat("-m ", TinyModel({.drop_tokens = 3}, "cli_trunc.gguf"), " -p hi"),
        "truncated");
  fails(absl::StrCat("-m ", TinyModel({.architecture = "mamba"}, "cli_mamba.gguf"), " -p hi"),
        "architecture \"mamba\" is not supported");
  fails(absl::StrCat("-m ", m, " -p hi --top-p 7"), "top");
  fails(absl::StrCat("-m ", m, " -p hi --tokens 1,2"), "cannot be combined");
}

}  // namespace
}  // namespace sov
