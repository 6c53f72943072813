// Gemma 3 270M (Q4_K_M GGUF by llama.cpp, installed by scripts/setup.sh) end
// to end. Skipped, saying why, when the file is absent.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/gemma3/config.h"
#include "nlohmann/json.hpp"
#include "quant/float16.h"
#include "runtime/executor.h"
#include "runtime/gemma3_gguf.h"
#include "runtime/session.h"
#include "runtime/text_model.h"
#include "runtime/tokenizer_test_util.h"

namespace sov {
namespace {

using ::testing::HasSubstr;

class Gemma3ModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = Gemma3GgufPath();
    if (!FileExists(path)) return;
    absl::StatusOr<std::unique_ptr<TextModel>> m = LoadTextModel(path);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = m->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr)
      GTEST_SKIP() << "Gemma 3 270M GGUF not found at " << Gemma3GgufPath()
                   << " (run scripts/setup.sh or set SOV_GEMMA3_GGUF)";
  }
  static std::string Greedy(Session& s, const std::string& prompt, int64_t n, bool chat) {
    GenerateOptions o;
    o.max_new_tokens = n;
    absl::StatusOr<GenerationResult> r = chat ? s.Chat(prompt, o) : s.Complete(prompt, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->text : "";
  }
  static TextModel* model_;
};
TextModel* Gemma3ModelTest::model_ = nullptr;

TEST_F(Gemma3ModelTest, ConfigMatchesThePublished270M) {
  absl::StatusOr<gemma3::ModelConfig> c = Gemma3ConfigFromGguf(*model_->gguf);
  ASSERT_TRUE(c.ok()) << c.status();
  const gemma3::ModelConfig want = gemma3::Gemma3_270M();
  EXPECT_EQ(c->vocab_size, want.vocab_size);
  EXPECT_EQ(c->hidden_size, want.hidden_size);
  EXPECT_EQ(c->intermediate_size, want.intermediate_size);
  EXPECT_EQ(c->num_layers, want.num_layers);
  EXPECT_EQ(c->num_heads, want.num_heads);
  EXPECT_EQ(c->num_kv_heads, want.num_kv_heads);
  EXPECT_EQ(c->head_dim, want.head_dim);
  EXPECT_EQ(c->sliding_window, want.sliding_window);
  EXPECT_EQ(c->global_layers, want.global_layers);
  EXPECT_EQ(c->rope_theta_global, want.rope_theta_global);
  EXPECT_EQ(c->rope_scale_global, 1.0);
  EXPECT_EQ(c->query_pre_attn_scalar, 256.0);
  EXPECT_EQ(c->final_logit_softcapping, 0.0);
  EXPECT_TRUE(c->tied_output);
  EXPECT_NEAR(c->rms_norm_eps, 1e-6, 1e-12);
}

// HF keeps norm weights as w (applied as 1 + w) in bf16; llama.cpp's converter
// writes 1 + w in f32. So every stored value minus 1 must be a bf16 number,
// while the values themselves are not all bf16 numbers.
TEST_F(Gemma3ModelTest, NormWeightsHoldOnePlusW) {
  int64_t n = 0, minus_one_bf16 = 0, plain_bf16 = 0;
  for (const GgufTensor& t : model_->gguf->tensors()) {
    if (t.n_dims != 1) continue;
    ASSERT_EQ(t.dtype, DType::kF32) << t.name;
    const float* v = reinterpret_cast<const float*>(t.data);
    for (int64_t i = 0; i < t.elements(); ++i, ++n) {
      const float w = v[i] - 1.0f;
      minus_one_bf16 += Bf16ToFp32(Fp32ToBf16(w)) == w;
      plain_bf16 += Bf16ToFp32(Fp32ToBf16(v[i])) == v[i];
    }
  }
  // output_norm + 4 norms of H per layer, q_norm and k_norm of head_dim per layer.
  EXPECT_EQ(n, (1 + 18 * 4) * 640 + 18 * 2 * 256);
  EXPECT_EQ(minus_one_bf16, n);
  EXPECT_LT(plain_bf16, n * 9 / 10);
}

// The pinned file is the pretrained (not instruction-tuned) 270M model: it
// completes text well and follows the chat format poorly, so these are
// completions (and llama.cpp's greedy output on the same prompts agrees).
TEST_F(Gemma3ModelTest, GreedyAnswersAreCoherent) {
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(*model_, {.context = 512});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Greedy(**s, "The Eiffel Tower is located in the city of", 8, false),
              HasSubstr("Paris"));
  EXPECT_THAT(Greedy(**s, "Water is made of hydrogen and", 8, false), HasSubstr("oxygen"));
  EXPECT_THAT(Greedy(**s, "Monday, Tuesday, Wednesday,", 8, false), HasSubstr("Thursday"));
  EXPECT_THAT(Greedy(**s, "The chemical symbol for gold is", 8, false), HasSubstr("Au"));
}

TEST_F(Gemma3ModelTest, MultiTurnChatUsesTheCache) {
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(*model_, {.context = 1024});
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string a = Greedy(**s, "My name is Alice. Please remember it.", 32, true);
  const size_t after_first = (*s)->history().size();
  const std::string b = Greedy(**s, "What is my name?", 24, true);
  EXPECT_GT((*s)->history().size(), after_first);
  EXPECT_THAT(b, HasSubstr("Alice")) << "first reply: " << a;
}

// Under the reference numerics, decode steps reproduce the rows of a full
// prefill on the real (quantized) weights, across prefill chunks of 7 rows.
// The llama.cpp numerics deliberately lack this property, as llama.cpp does:
// several of its kernels take another float order for one row than for a
// batch (vec_dot vs tinyBLAS for the fp16 attention products, gemv vs gemm
// for repacked Q4_K, vec_dot vs the tiled kernel for Q6_K), and reproducing
// llama.cpp means reproducing that too; they get the fp16 cache instead.
TEST_F(Gemma3ModelTest, DecodeMatchesPrefillUnderReferenceNumerics) {
  absl::StatusOr<graph::Graph> g = model_->build_graph(/*last_row_only=*/false);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<Executor>> ex = Executor::Create(
      *g, *model_->weights, {.prefill_rows = 7, .context = 64, .numerics = Numerics::kReference});
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ((*ex)->kv_cache().dtype(), DType::kF32);
  absl::StatusOr<std::vector<TokenId>> ids = model_->tokenizer->Encode(
      "Sovereign runs Gemma models from GGUF files, one token at a time.");
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 12u);
  absl::StatusOr<Logits> all = (*ex)->Prefill(*ids);
  ASSERT_TRUE(all.ok()) << all.status();
  (*ex)->Reset();
  double worst = 0.0, scale = 0.0;
  for (size_t t = 0; t < ids->size(); ++t) {
    absl::StatusOr<Logits> one = (*ex)->Decode((*ids)[t]);
    ASSERT_TRUE(one.ok()) << one.status();
    for (int64_t v = 0; v < all->cols; ++v) {
      worst = std::max(worst, std::fabs(double(one->row(0)[v]) - all->row(t)[v]));
      scale = std::max(scale, std::fabs(double(all->row(t)[v])));
    }
  }
  std::printf("  decode vs prefill: max |diff| %.3g over logits up to %.3g\n", worst, scale);
  // kernels/api.h: a batched MatMul row is bitwise equal to the T = 1 call and
  // attention merges key chunks in a fixed order, so decode must equal prefill.
  EXPECT_EQ(worst, 0.0) << "max |logit| " << scale;
}

TEST_F(Gemma3ModelTest, LlamaCppNumericsUseAnFp16Cache) {
  absl::StatusOr<graph::Graph> g = model_->build_graph(/*last_row_only=*/true);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<Executor>> ex = Executor::Create(
      *g, *model_->weights, {.prefill_rows = 8, .context = 64, .numerics = Numerics::kGgml});
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ((*ex)->kv_cache().dtype(), DType::kF16);
}

}  // namespace
}  // namespace sov

namespace sov {
namespace {

// llama.cpp's greedy continuations (runtime/gemma3_testdata/, see the script
// there for the command and versions), run with the "llama.cpp" numerics that
// GGUF files get by default. Those reproduce, kernel by kernel, the float
// order of llama.cpp's x86 CPU backend (AVX-512 build) for every op this model
// uses: Q8_0/Q5_0 (tinyBLAS / vec_dot), repacked Q4_K (gemv / gemm), Q6_K
// (vec_dot / tiled), the fp16-cache attention, RoPE, the norms and the GELU
// table, and llama.cpp's graph shape (the last layer continues on the output
// row only; one 512-row prefill batch). Each of those equals libggml-cpu
// bitwise in its kernel test harness, and `sov logits --taps` against
// llama.cpp's own tensors shows every layer bitwise equal, so the greedy
// tokens must be identical, not merely close: every teacher-forced step must
// pick llama.cpp's token and every free-running continuation must equal it.
TEST_F(Gemma3ModelTest, GreedyMatchesLlamaCpp) {
  const std::string path =
      std::string(SOV_SOURCE_DIR) + "/runtime/gemma3_testdata/gemma3_270m_llama_cpp_greedy.json";
  std::ifstream f(path);
  ASSERT_TRUE(f.good()) << path;
  const nlohmann::json doc = nlohmann::json::parse(f);
  absl::StatusOr<graph::Graph> g = model_->build_graph(/*last_row_only=*/true);
  ASSERT_TRUE(g.ok()) << g.status();
  absl::StatusOr<std::unique_ptr<Executor>> ex =
      Executor::Create(*g, *model_->weights,
                       {.prefill_rows = 512, .context = 512, .numerics = Numerics::kGgml});
  ASSERT_TRUE(ex.ok()) << ex.status();
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(*model_, {.context = 512});
  ASSERT_TRUE(s.ok()) << s.status();
  int64_t steps = 0, argmax_equal = 0, identical_prefix_total = 0;
  float worst_gap = 0.0f;
  for (const nlohmann::json& c : doc["cases"]) {
    const std::string prompt = c["prompt"];
    const std::vector<TokenId> ids = c["prompt_ids"];
    const std::vector<TokenId> want = c["greedy_ids"];
    absl::StatusOr<std::vector<TokenId>> ours =
        model_->tokenizer->Encode(prompt, {.add_bos = true, .parse_special = true});
    ASSERT_TRUE(ours.ok()) << ours.status();
    EXPECT_EQ(*ours, ids) << prompt;

    (*ex)->Reset();
    absl::StatusOr<Logits> l = (*ex)->Prefill(ids);
    ASSERT_TRUE(l.ok()) << l.status();
    for (size_t i = 0; i < want.size(); ++i) {
      const float* row = l->row(l->rows - 1);
      const int64_t am = std::max_element(row, row + l->cols) - row;
      ++steps;
      argmax_equal += am == want[i];
      worst_gap = std::max(worst_gap, row[am] - row[want[i]]);
      EXPECT_EQ(am, want[i]) << prompt << " step " << i;
      l = (*ex)->Decode(want[i]);
      ASSERT_TRUE(l.ok()) << l.status();
    }
    GenerateOptions o;
    o.max_new_tokens = static_cast<int64_t>(want.size());
    o.use_stop_ids = false;
    absl::StatusOr<GenerationResult> r = (*s)->CompleteTokens(ids, o);
    ASSERT_TRUE(r.ok()) << r.status();
    size_t same = 0;
    while (same < want.size() && r->tokens[same] == want[same]) ++same;
    identical_prefix_total += static_cast<int64_t>(same);
    EXPECT_EQ(same, want.size()) << prompt;
    std::printf("  %-40.40s identical greedy prefix %zu/%zu\n", absl::CEscape(prompt).c_str(), same,
                want.size());
  }
  std::printf(
      "  teacher-forced argmax agreement: %lld/%lld steps, worst gap %.3f; "
      "identical greedy tokens %lld\n",
      static_cast<long long>(argmax_equal), static_cast<long long>(steps), worst_gap,
      static_cast<long long>(identical_prefix_total));
  EXPECT_EQ(argmax_equal, steps);
}

}  // namespace
}  // namespace sov
