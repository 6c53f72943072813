// `sov synth`: Gemma 4 models with the published shapes and deterministic
// synthetic weights, streamed to a GGUF through the `sov quantize` writer
// (runtime/convert.h). For loading, kernel and file-size work without the
// real checkpoints.
//
// Every element is a pure function of (seed, tensor name, element index): a
// counter-based generator, so any row is produced independently, in any
// order and on any thread, and the file bytes do not depend on the thread
// count. Scales keep activations finite and non-degenerate through all
// layers: Linear rows ~ N(0, 1/in_features), embeddings ~ N(0, 1/H) (the
// model multiplies them by sqrt(H)), PLE tables ~ N(0, 1/P), norm weights,
// router scales and layer_scalar ~ 1 + small noise (Gemma 4 norms multiply by
// w directly, spec gemma4.md §2.2), except q_norm and k_norm: d^(-1/4) times
// (1 + small noise), d the head dim, because Gemma 4 does not scale scores by
// 1/sqrt(d) (§2.5.4) and these weights carry that temperature (scores with
// std ~ 1 instead of ~ sqrt(d)).
#ifndef SOV_RUNTIME_SYNTH_H_
#define SOV_RUNTIME_SYNTH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "models/gemma4/config.h"
#include "runtime/convert.h"

namespace sov {

// The architectures `--arch` accepts: the four published ones, plus two
// test-only miniatures ("test-tiny": PLE, KV sharing, double-wide MLP;
// "test-tiny-moe": MoE, attention_k_eq_v) whose dimensions are multiples of
// 256 so every K-quant type applies.
absl::StatusOr<gemma4::ModelConfig> SynthConfig(std::string_view arch);

// `c` cut to its first `layers` layers (the last forced full attention, KV
// sharing scaled in proportion but never before the first full layer);
// errors when the result is not a valid model.
absl::StatusOr<gemma4::ModelConfig> TruncateLayers(const gemma4::ModelConfig& c, int64_t layers);

// Element `index` of tensor `name` as an approximately standard normal value
// (Irwin-Hall sum of four 16-bit uniforms, scaled to unit variance).
float SynthNormal(uint64_t seed, std::string_view name, uint64_t index);

struct SynthOptions {
  std::string arch;
  FileType ftype = FileType::kQ4_K_M;
  uint64_t seed = 0;
  int64_t layers = 0;      // 0: the published count
  int threads = 0;         // 0: oneTBB default
  bool progress = false;
  int64_t block_rows = 0;  // QuantizeOptions::generated_block_rows
  // A GGUF whose tokenizer.ggml.* keys are copied (a Gemma 3 file: the same
  // 262144-piece vocabulary); empty: no tokenizer (llama.cpp cannot load the
  // file then, our runtime can).
  std::string vocab_gguf;
};

absl::StatusOr<QuantizeReport> SynthModel(const SynthOptions& opt, const std::string& out);

}  // namespace sov

#endif  // SOV_RUNTIME_SYNTH_H_
