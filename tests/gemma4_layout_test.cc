// Checkpoint layouts other than the fixtures' own: the multimodal save
// (`model.language_model.` prefix, nested text_config), an untied LM head,
// and released-checkpoint leftovers (unused K/V weights on KV-shared layers,
// a duplicate lm_head on tied models). Each rewrites a fixture so the
// expected logits stay the fixture's transformers logits.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/loader.h"
#include "runtime/safetensors.h"
#include "runtime/safetensors_writer.h"
#include "tests/gemma4_fixture.h"

namespace sov {
namespace {

namespace fs = std::filesystem;

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

std::vector<Tensor> ReadAllTensors(const std::string& file) {
  std::vector<Tensor> out;
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(file);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  for (const std::string& n : r->names()) {
    const SafetensorsTensor* t = r->Find(n);
    out.push_back({n, t->dtype_name, t->shape,
                   std::string(reinterpret_cast<const char*>(t->data), t->nbytes)});
  }
  return out;
}

void WriteTensors(const std::vector<Tensor>& ts, const std::string& file) {
  SafetensorsWriter w;
  for (const Tensor& t : ts) ASSERT_TRUE(w.Add(t.name, t.dtype, t.shape, t.bytes).ok()) << t.name;
  ASSERT_TRUE(w.WriteFile(file).ok());
}

nlohmann::json ReadJson(const std::string& file) {
  std::ifstream f(file);
  return nlohmann::json::parse(f);
}

void WriteJson(const nlohmann::json& j, const std::string& file) {
  std::ofstream f(file);
  f << j.dump(2);
}

double LogitsDiff(const std::string& dir, const testing::Cases& c) {
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(dir);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return 1e30;
  RunnerOptions ro;
  ro.max_tokens = c.T;
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(**m, ro);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return 1e30;
  absl::StatusOr<std::vector<float>> l = (*r)->Logits(c.tokens);
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok() || l->size() != c.logits.size()) return 1e30;
  return testing::MaxAbsDiff(l->data(), c.logits.data(), c.logits.size());
}

class Gemma4Layout : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::FixtureExists(kFixture)) GTEST_SKIP() << "fixture absent";
    absl::StatusOr<testing::Cases> c = testing::LoadCases(kFixture);
    ASSERT_TRUE(c.ok()) << c.status();
    cases_ = *std::move(c);
    tensors_ = ReadAllTensors(testing::FixtureDir(kFixture) + "/model.safetensors");
    config_ = ReadJson(testing::FixtureDir(kFixture) + "/config.json");
    tmp_ = fs::temp_directory_path() /
           ("sov_gemma4_layout_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  const Tensor* Find(const std::string& n) const {
    for (const Tensor& t : tensors_)
      if (t.name == n) return &t;
    return nullptr;
  }

  // e_style: PLE, KV sharing (layers 4, 5), tied head.
  static constexpr const char* kFixture = "e_style";
  testing::Cases cases_;
  std::vector<Tensor> tensors_;
  nlohmann::json config_;
  fs::path tmp_;
};

TEST_F(Gemma4Layout, MultimodalPrefixAndNestedConfig) {
  std::vector<Tensor> ts = tensors_;
  for (Tensor& t : ts) t.name = "model.language_model." + t.name.substr(std::strlen("model."));
  // A vision tower tensor the text decoder must skip.
  ts.push_back({"model.vision_tower.patch_embedder.input_proj.weight", "F32", {2, 2},
                std::string(16, '\0')});
  WriteTensors(ts, (tmp_ / "model.safetensors").string());
  nlohmann::json text = config_;
  text.erase("architectures");
  nlohmann::json root = {{"model_type", "gemma4"}, {"text_config", text}};
  WriteJson(root, (tmp_ / "config.json").string());
  EXPECT_LE(LogitsDiff(tmp_.string(), cases_), 1e-4);
}

TEST_F(Gemma4Layout, UntiedHeadReadsLmHead) {
  std::vector<Tensor> ts = tensors_;
  const Tensor* e = Find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  ts.push_back({"lm_head.weight", e->dtype, e->shape, e->bytes});
  WriteTensors(ts, (tmp_ / "model.safetensors").string());
  nlohmann::json cfg = config_;
  cfg["tie_word_embeddings"] = false;
  WriteJson(cfg, (tmp_ / "config.json").string());
  // lm_head == embed_tokens: same logits as the tied model.
  EXPECT_LE(LogitsDiff(tmp_.string(), cases_), 1e-4);

  // A different head changes the logits: the untied path really reads lm_head.
  Tensor& head = ts.back();
  std::vector<float> h(head.bytes.size() / 4);
  std::memcpy(h.data(), head.bytes.data(), head.bytes.size());
  for (float& x : h) x = -x;
  std::memcpy(head.bytes.data(), h.data(), head.bytes.size());
  WriteTensors(ts, (tmp_ / "model.safetensors").string());
  EXPECT_GT(LogitsDiff(tmp_.string(), cases_), 1.0);

  // Untied without lm_head.weight: an error naming it.
  ts.pop_back();
  WriteTensors(ts, (tmp_ / "model.safetensors").string());
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(tmp_.string());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("lm_head.weight"), std::string::npos) << m.status();
}

TEST_F(Gemma4Layout, ReleasedCheckpointLeftoversAreIgnored) {
  std::vector<Tensor> ts = tensors_;
  // Released E2B/E4B files keep k_proj/v_proj/k_norm on KV-shared layers, and
  // tied checkpoints may duplicate the embedding as lm_head.weight.
  const Tensor* k = Find("model.layers.2.self_attn.k_proj.weight");
  const Tensor* v = Find("model.layers.2.self_attn.v_proj.weight");
  const Tensor* kn = Find("model.layers.2.self_attn.k_norm.weight");
  ASSERT_TRUE(k && v && kn);
  std::string garbage(k->bytes.size(), '\x7f');  // NaN-like junk: must never be read
  ts.push_back({"model.layers.4.self_attn.k_proj.weight", "F32", k->shape, garbage});
  ts.push_back({"model.layers.4.self_attn.v_proj.weight", "F32", v->shape, garbage});
  ts.push_back({"model.layers.4.self_attn.k_norm.weight", "F32", kn->shape,
                std::string(kn->bytes.size(), '\x7f')});
  const Tensor* e = Find("model.embed_tokens.weight");
  ts.push_back({"lm_head.weight", "F32", e->shape, std::string(e->bytes.size(), '\x7f')});
  WriteTensors(ts, (tmp_ / "model.safetensors").string());
  WriteJson(config_, (tmp_ / "config.json").string());
  EXPECT_LE(LogitsDiff(tmp_.string(), cases_), 1e-4);
}

}  // namespace
}  // namespace sov
