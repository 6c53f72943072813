// `sov bench`: llama-bench compatible throughput tests on one loaded model.
//
// A test is pp<p> (prefill of p tokens, timed as one call) or tg<n> (n
// single-token decode steps), each at a depth d: the KV cache first holds d
// tokens (prefilled untimed). Every test runs once untimed (warm-up), then r
// timed repetitions on a fresh sequence. Token ids are uniform random from a
// fixed seed, so two runs feed identical inputs.
//
// Besides llama-bench's fields every record carries the memory roofline:
//   bytes_per_token  weight bytes the decode plan reads per token: every
//                    matrix and norm vector in full, embedding tables (the
//                    PLE table included) only for the gathered rows, MoE
//                    banks only for the top_k routed experts;
//   gbps             bytes_per_token x tokens/s during decode;
//   dram_gbps        the streaming-read probe (runtime/bandwidth_probe.h);
//   roofline_frac    achieved tokens/s / (dram_gbps / bytes_per_token).
// KV-cache reads are not counted in bytes_per_token (they grow with depth and
// are reported per step by the profile), so roofline_frac at large depth is an
// upper-bound roofline, not a tight one. pp records report flops_per_s (matmul,
// MoE and attention multiply-adds x 2); their roofline fields are null.
#ifndef SOV_RUNTIME_BENCH_H_
#define SOV_RUNTIME_BENCH_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/numerics.h"

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "graph/plan.h"
#include "graph/weight_provider.h"
#include "runtime/bandwidth_probe.h"

namespace sov {

struct BenchModelInfo {
  std::string filename;  // as given on the command line
  std::string type;      // llama-bench's model_type, e.g. "gemma4 5.1B Q4_K - Medium"
  int64_t size_bytes = 0;
  int64_t n_params = 0;
};

struct BenchOptions {
  std::vector<int64_t> n_prompt = {512};  // 0 entries are skipped
  std::vector<int64_t> n_gen = {128};
  std::vector<int64_t> n_depth = {0};
  int reps = 5;
  int threads = 0;  // 0: hardware concurrency
  bool profile = false;
  uint64_t seed = 1234;
  Numerics numerics = Numerics::kReference;  // runtime/numerics.h
  // Runs after the DRAM probe, before the executor is built (e.g. prefetching
  // mapped weights, so the probe's buffer and the weights are never resident
  // together). Its error ends the run.
  std::function<absl::Status()> prepare;
  BandwidthOptions probe;
};

struct BenchResult {
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
  std::vector<double> samples_ns, samples_ts;
  double avg_ns = 0, stddev_ns = 0, avg_ts = 0, stddev_ts = 0;
  std::string test_time;       // UTC, ISO 8601
  double bytes_per_token = 0;  // decode plan weight bytes (tg)
  double flops = 0;            // per timed repetition
  double flops_per_s = 0;
  std::optional<double> gbps, roofline_frac;  // tg only
  std::string TestName() const;               // "pp512", "tg128 @ d4096"
};

// One row of the decode profile: every plan step of one op kind.
struct OpProfileRow {
  std::string op;
  int64_t steps = 0;
  double sec_per_token = 0;
  double weight_bytes_per_token = 0;
  double kv_bytes_per_token = 0;
  double flops_per_token = 0;
  double minor_faults_per_token = 0, major_faults_per_token = 0;
};

struct BenchReport {
  BenchModelInfo model;
  int threads = 0;
  int64_t n_ubatch = 0;  // prefill plan rows
  double dram_gbps = 0;
  std::string cpu_info;
  std::string kv_type = "f32";  // KV cache element type: "f16" under the llama.cpp numerics
  std::vector<BenchResult> results;
  std::vector<OpProfileRow> profile;  // empty unless --profile
  int64_t profile_depth = 0, profile_tokens = 0;
  // Process high-water RSS at the end of the run (all tests and the profile;
  // the probe's buffer is freed before the weights are touched).
  int64_t peak_rss_bytes = 0;
  // Resident at the end: mapped file pages (weights) and anonymous memory
  // (activation arena, KV cache, logits and other buffers).
  int64_t rss_file_bytes = 0, rss_anon_bytes = 0;
};

// Validates the options (errors name the flag), runs the probe, then the tests.
absl::StatusOr<BenchReport> RunBench(const graph::Graph& g, const graph::WeightProvider& weights,
                                     const BenchModelInfo& model, const BenchOptions& opt);

// Cost of one plan step for `T` rows whose first row sits at position `pos0`.
struct StepCost {
  double weight_bytes = 0;
  double kv_bytes = 0;
  double flops = 0;
};
// `kv_elem_bytes`: 4 for an f32 KV cache, 2 for fp16.
StepCost PlanStepCost(const graph::Plan& plan, const graph::Step& s, int64_t T, int64_t pos0,
                      int kv_elem_bytes = 4);

std::string FormatMarkdown(const BenchReport& r);
std::string FormatCsv(const BenchReport& r);
std::string FormatJson(const BenchReport& r);
std::string FormatProfile(const BenchReport& r);  // markdown table; "" without a profile

}  // namespace sov

#endif  // SOV_RUNTIME_BENCH_H_
