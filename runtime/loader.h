// Loads a Hugging Face Gemma 4 directory: config.json -> gemma4::ModelConfig,
// model.safetensors -> a graph::WeightProvider named by the tensor table's
// GGUF names, with every tensor the config needs checked for presence and
// shape. Unused K/V weights of KV-shared layers are tolerated and ignored;
// both the `model.` and `model.language_model.` prefixes are accepted;
// `lm_head.weight` is optional (tied).
#ifndef SOV_RUNTIME_LOADER_H_
#define SOV_RUNTIME_LOADER_H_

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/weight_provider.h"
#include "models/gemma4/config.h"
#include "nlohmann/json.hpp"
#include "runtime/executor.h"
#include "runtime/gguf_reader.h"
#include "runtime/hf_config.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"

namespace sov {

// Maps an HF Gemma 4 text config (flat or the `text_config` object) onto the
// model config, with HF's defaults for absent keys; errors name the key.
absl::StatusOr<gemma4::ModelConfig> Gemma4ConfigFromJson(const nlohmann::json& text);
// Same from a parsed config.json; rejects model types other than Gemma 4.
absl::StatusOr<gemma4::ModelConfig> Gemma4ConfigFromHf(const HfConfig& hf);

struct LoadOptions {
  // Round every weight to bf16 at load (matrices stored as bf16, vectors
  // rounded then widened to f32): the bf16-weight path.
  bool bf16_weights = false;
};

// A loaded checkpoint: config + weights, usable as the graph's WeightProvider.
class Gemma4Weights : public graph::WeightProvider {
 public:
  absl::StatusOr<kernels::WeightView> Matrix(std::string_view name) const override;
  absl::StatusOr<std::span<const float>> Vector(std::string_view name) const override;
  absl::StatusOr<std::vector<kernels::WeightView>> MatrixStack(
      std::string_view name) const override;

  // Test hook (divergence search): a mutable f32 copy of a matrix, replacing
  // the mapped one. The tensor must be f32 or bf16 storage.
  absl::StatusOr<float*> MutableMatrixF32(std::string_view name);

  struct Matrix2D {
    kernels::WeightView view;
    std::vector<uint8_t> owned;  // non-empty when converted at load
  };
  struct Stack3D {
    std::vector<kernels::WeightView> views;
    std::vector<uint8_t> owned;
  };

 private:
  friend class Gemma4Loader;
  friend class GgufWeightsFiller;  // runtime/gguf_model.cc
  std::map<std::string, Matrix2D, std::less<>> matrices_;
  std::map<std::string, std::vector<float>, std::less<>> vectors_;
  std::map<std::string, Stack3D, std::less<>> stacks_;
};

struct Gemma4Model {
  std::string dir;
  gemma4::ModelConfig config;
  std::unique_ptr<WeightStore> store;  // keeps the mapping and aligned copies alive
  std::unique_ptr<GgufReader> gguf;    // the mapping, when loaded from a GGUF file
  std::unique_ptr<Gemma4Weights> weights;
};

// `dir`: an HF model directory (config.json + model.safetensors or shards), or
// a GGUF file (name ending in .gguf or starting with the GGUF magic).
absl::StatusOr<std::unique_ptr<Gemma4Model>> LoadGemma4(const std::string& dir,
                                                        const LoadOptions& opt = {});

// Validates token ids against the vocabulary and the context length.
absl::Status CheckTokens(const gemma4::ModelConfig& c, std::span<const int32_t> tokens);

struct RunnerOptions {
  int threads = 0;          // 0: oneTBB default
  int64_t max_tokens = 0;   // longest prompt (prefill bucket, up to kMaxPrefillRows rows)
  int64_t context = 0;      // most positions a sequence reaches; 0 = max_tokens
  bool fuse = true;
  bool last_row_only = false;  // graph computes only the last row's logits
  bool debug_taps = false;     // gemma4::BuildOptions::debug_taps
  Numerics numerics = Numerics::kReference;  // runtime/numerics.h
};

// Model -> graph -> compiled plans -> executor, for the CLI and tests.
class Gemma4Runner {
 public:
  static constexpr int64_t kMaxPrefillRows = 256;

  static absl::StatusOr<std::unique_ptr<Gemma4Runner>> Create(const Gemma4Model& m,
                                                              const RunnerOptions& opt);

  // Logits [T, V] of `tokens` as one fresh sequence (prefill from position 0).
  absl::StatusOr<std::vector<float>> Logits(std::span<const int32_t> tokens);
  // Greedy continuation: prefill `prompt`, then n argmax decode steps.
  absl::StatusOr<std::vector<int32_t>> Generate(std::span<const int32_t> prompt, int64_t n);
  // The prefill plan (summary, or every step with --dump).
  std::string DumpPlan(bool full) const;

  Executor& executor() { return *ex_; }
  const graph::Graph& graph() const { return graph_; }

 private:
  Gemma4Runner() = default;
  const Gemma4Model* model_ = nullptr;
  RunnerOptions opt_;
  ExecutorOptions ex_opt_;
  graph::Graph graph_;
  std::unique_ptr<Executor> ex_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_LOADER_H_
