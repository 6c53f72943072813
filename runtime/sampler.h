// Next-token sampling with llama.cpp's semantics and a documented RNG.
//
// Per step, on a copy of the logits (spec gemma4.md §5.2 for the Gemma
// defaults: temperature 1.0, top_k 64, top_p 0.95):
//   1. repetition penalty over the last `repeat_last_n` accepted tokens: each
//      distinct such token's logit is divided by `repeat_penalty` if positive
//      and multiplied by it otherwise (llama.cpp `penalties`);
//   2. temperature <= 0: greedy, the argmax (lowest id on ties); stop here;
//   3. top-k: the k largest logits (ties to the lower id);
//   4. top-p: the smallest prefix, by falling probability, whose probability
//      (softmax over the survivors of 3) reaches top_p; at least one token;
//   5. min-p: tokens whose probability is at least min_p times the largest;
//   6. temperature: softmax(logit / temperature) over the survivors;
//   7. draw: u = (mt19937_64() >> 11) * 2^-53 in [0, 1) and the first token,
//      in order of falling logit (ties by id), whose cumulative probability
//      exceeds u. The engine is std::mt19937_64 seeded with `seed`, whose
//      output sequence the C++ standard fixes; the mapping to [0, 1) is ours,
//      so a seed gives the same tokens with any standard library.
// This is llama.cpp's default chain order (filters before temperature).
#ifndef SOV_RUNTIME_SAMPLER_H_
#define SOV_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer.h"

namespace sov {

struct SamplerConfig {
  float temperature = 1.0f;     // <= 0: greedy
  int32_t top_k = 0;            // 0: off
  float top_p = 1.0f;           // 1: off; in (0, 1]
  float min_p = 0.0f;           // 0: off; in [0, 1]
  float repeat_penalty = 1.0f;  // 1: off; > 0
  int32_t repeat_last_n = 64;   // history window of the penalty; 0: off
  uint64_t seed = 0;
  std::vector<TokenId> stop_ids;  // e.g. ChatStopIds(): <eos>, end of turn
};

// A candidate after filtering: its id and final probability.
struct TokenProb {
  TokenId id;
  double p;
};

class Sampler {
 public:
  // Errors name the offending setting (the CLI flags have the same names).
  static absl::StatusOr<Sampler> Create(SamplerConfig config);

  // Applies steps 1-7 and returns the drawn token; it is also accepted into
  // the penalty history. Errors on empty logits or non-finite values.
  absl::StatusOr<TokenId> Sample(std::span<const float> logits);

  // Steps 1-6: the surviving tokens, by falling probability, summing to 1.
  // Greedy gives the argmax with p = 1. Does not touch RNG or history.
  absl::StatusOr<std::vector<TokenProb>> Distribution(std::span<const float> logits) const;

  // Adds a token to the penalty history (the prompt's tokens, say).
  void Accept(TokenId id);
  bool IsStop(TokenId id) const;
  // Clears the history and re-seeds the RNG.
  void Reset();

  const SamplerConfig& config() const { return config_; }

 private:
  explicit Sampler(SamplerConfig config) : config_(std::move(config)), rng_(config_.seed) {}
  double Uniform();

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::deque<TokenId> history_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_SAMPLER_H_
