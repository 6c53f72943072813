// Executor: runs a model Graph step by step. Owns two compiled Plans (a
// prefill bucket of `prefill_rows` rows and decode with T = 1, both compiled
// once at Create and reused), one activation arena sized for the larger, the
// KV cache, and a oneTBB task_arena limiting the kernels to `threads`.
//
//   auto ex = Executor::Create(graph, weights, {.prefill_rows = 64, .context = 4096});
//   absl::StatusOr<Logits> l = (*ex)->Prefill(prompt);   // chunks of prefill_rows
//   l = (*ex)->Decode(next_token);                        // one position further
//
// Logits are the graph's first output: every row of the step (concatenated
// over prefill chunks) or only the last row, whatever the graph computes.
// Bad input (token id >= vocab, context overflow) is an error, never a crash.
#ifndef SOV_RUNTIME_EXECUTOR_H_
#define SOV_RUNTIME_EXECUTOR_H_

#include <tbb/task_arena.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "graph/plan.h"
#include "graph/weight_provider.h"
#include "runtime/arena.h"
#include "runtime/kv_cache.h"
#include "runtime/numerics.h"

namespace sov {

struct ExecutorOptions {
  int64_t prefill_rows = 64;  // T_max of the prefill plan; longer prompts run in chunks
  int64_t context = 4096;     // most positions a sequence may reach
  int threads = 0;            // 0: oneTBB's default
  bool fuse = true;           // false: run the graph unfused (debugging, parity tests)
  bool reuse_memory = true;   // false: no arena sharing between values
  // kGgml: fp16 KV cache, llama.cpp's attention and GELU rounding (runtime/numerics.h).
  Numerics numerics = Numerics::kReference;
};

struct Logits {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  // rows x cols, row-major
  const float* row(int64_t r) const { return data.data() + r * cols; }
};

// One recorded tap: the value `name` of `layer` for positions pos0..pos0+rows-1.
struct TapRecord {
  std::string name;
  int32_t layer = -1;
  int64_t pos0 = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;
};

struct Divergence {
  size_t index = 0;  // into the tap sequences
  std::string name;
  int32_t layer = -1;
  double max_abs = 0.0;
  std::string ToString() const;  // "layer 3, op attn_out: max |Δ| 2e-3"
};

// The first tap (in recording order) where the two runs differ by more than
// `tol` (max absolute difference), or where the sequences stop matching in
// name/shape; nullopt when they agree everywhere.
std::optional<Divergence> FirstDivergence(const std::vector<TapRecord>& a,
                                          const std::vector<TapRecord>& b, double tol);

// Per-step wall time of one plan, accumulated over the runs of that plan
// while attached (Executor::set_step_profile). seconds[i] is step i's total;
// minor_faults[i] / major_faults[i] the page faults the process took during
// step i (getrusage around it, all threads: a major fault is a disk read,
// e.g. a cold row of a mapped embedding table).
struct StepProfile {
  const graph::Plan* plan = nullptr;
  std::vector<double> seconds;
  std::vector<int64_t> minor_faults, major_faults;
  int64_t runs = 0;
};

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Create(const graph::Graph& g,
                                                          const graph::WeightProvider& weights,
                                                          const ExecutorOptions& opts);

  // Runs `tokens` at positions position()..position()+n-1.
  absl::StatusOr<Logits> Prefill(std::span<const int32_t> tokens);
  absl::StatusOr<Logits> Decode(int32_t token);
  // Forgets the sequence (the cache contents become unreachable).
  void Reset() { pos_ = 0; }
  int64_t position() const { return pos_; }

  // Records every tap of the graph into `sink` (null: stop recording).
  void set_tap_sink(std::vector<TapRecord>* sink) { taps_ = sink; }
  // Times every step of `p->plan` (prefill_plan() or decode_plan()) into `p`;
  // null stops. Off by default: the step loop then reads no clock.
  void set_step_profile(StepProfile* p) { profile_ = p; }

  const graph::Plan& prefill_plan() const { return prefill_; }
  const graph::Plan& decode_plan() const { return decode_; }
  const KvCache& kv_cache() const { return kv_; }
  int64_t arena_bytes() const { return static_cast<int64_t>(arena_.capacity()); }

 private:
  Executor() = default;
  absl::Status CheckTokens(std::span<const int32_t> tokens) const;
  // Runs one chunk (T <= plan.t_max) and appends/sets the output rows.
  void RunChunk(const graph::Plan& plan, std::span<const int32_t> tokens, Logits* out);

  ExecutorOptions opts_;
  graph::Plan prefill_, decode_;
  Arena arena_;
  KvCache kv_;
  std::unique_ptr<tbb::task_arena> tbb_arena_;
  int64_t pos_ = 0;
  std::vector<TapRecord>* taps_ = nullptr;
  StepProfile* profile_ = nullptr;
};

}  // namespace sov

#endif  // SOV_RUNTIME_EXECUTOR_H_
