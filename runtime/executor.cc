#include "runtime/executor.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/check.h"
#include "runtime/plan_exec.h"

namespace sov {

std::string Divergence::ToString() const {
  std::string where = layer >= 0 ? absl::StrCat("layer ", layer, ", ") : std::string();
  return absl::StrFormat("%sop %s: max |Δ| %.3g", where, name, max_abs);
}

std::optional<Divergence> FirstDivergence(const std::vector<TapRecord>& a,
                                          const std::vector<TapRecord>& b, double tol) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    Divergence d;
    d.index = i;
    if (i >= a.size() || i >= b.size()) {
      const TapRecord& t = i < a.size() ? a[i] : b[i];
      d.name = absl::StrCat(t.name, " (recorded by one run only)");
      d.layer = t.layer;
      d.max_abs = INFINITY;
      return d;
    }
    const TapRecord& x = a[i];
    const TapRecord& y = b[i];
    d.name = x.name;
    d.layer = x.layer;
    if (x.name != y.name || x.layer != y.layer || x.rows != y.rows || x.cols != y.cols) {
      d.name = absl::StrCat(x.name, " vs ", y.name, " (taps do not line up)");
      d.max_abs = INFINITY;
      return d;
    }
    double m = 0.0;
    for (size_t k = 0; k < x.data.size(); ++k) {
      const double diff = std::fabs(static_cast<double>(x.data[k]) - y.data[k]);
      if (!(diff <= m)) m = diff;  // NaN propagates as a divergence
    }
    if (!(m <= tol)) {
      d.max_abs = m;
      return d;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(const graph::Graph& g,
                                                           const graph::WeightProvider& weights,
                                                           const ExecutorOptions& opts) {
  if (opts.prefill_rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: prefill_rows must be >= 1, got ", opts.prefill_rows));
  }
  if (opts.context < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: context must be >= 1, got ", opts.context));
  }
  if (opts.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("executor: threads must be >= 0, got ", opts.threads));
  }
  std::unique_ptr<Executor> ex(new Executor());
  ex->opts_ = opts;
  graph::CompileOptions co;
  co.fuse = opts.fuse;
  co.reuse_memory = opts.reuse_memory;
  co.t_max = opts.prefill_rows;
  SOV_ASSIGN_OR_RETURN(ex->prefill_, graph::Compile(g, weights, co));
  co.t_max = 1;
  SOV_ASSIGN_OR_RETURN(ex->decode_, graph::Compile(g, weights, co));
  if (ex->prefill_.outputs.empty())
    return absl::InvalidArgumentError("executor: graph has no output");
  const int64_t arena = std::max(ex->prefill_.arena_bytes, ex->decode_.arena_bytes);
  SOV_ASSIGN_OR_RETURN(ex->arena_, Arena::Create(static_cast<size_t>(arena)));
  SOV_ASSIGN_OR_RETURN(ex->kv_,
                       KvCache::Create(ex->prefill_.caches, opts.prefill_rows, opts.context,
                                       opts.numerics == Numerics::kGgml ? DType::kF16
                                                                        : DType::kF32));
  ex->tbb_arena_ = std::make_unique<tbb::task_arena>(
      opts.threads > 0 ? opts.threads : static_cast<int>(tbb::task_arena::automatic));
  return ex;
}

absl::Status Executor::CheckTokens(std::span<const int32_t> tokens) const {
  if (tokens.empty()) return absl::InvalidArgumentError("executor: no tokens to run");
  const int64_t vocab = prefill_.vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || (vocab > 0 && tokens[i] >= vocab)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (pos_ + n > opts_.context) {
    return absl::OutOfRangeError(absl::StrCat("context limit: ", pos_, " positions used + ", n,
                                              " new tokens exceed the context of ", opts_.context));
  }
  return absl::OkStatus();
}

void Executor::RunChunk(const graph::Plan& plan, std::span<const int32_t> tokens, Logits* out) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  SOV_CHECK(T >= 1 && T <= plan.t_max) << "chunk of " << T << " rows for t_max " << plan.t_max;
  uint8_t* base = arena_.base();
  std::memcpy(base + plan.token_ids.offset, tokens.data(), tokens.size() * sizeof(int32_t));
  int32_t* pos = reinterpret_cast<int32_t*>(base + plan.positions.offset);
  for (int64_t t = 0; t < T; ++t) pos[t] = static_cast<int32_t>(pos_ + t);

  StepContext ctx;
  ctx.arena = base;
  ctx.T = T;
  ctx.pos0 = pos_;
  ctx.kv = &kv_;
  ctx.plan = &plan;
  ctx.numerics = opts_.numerics;
  StepProfile* prof = (profile_ != nullptr && profile_->plan == &plan) ? profile_ : nullptr;
  if (prof != nullptr) {
    prof->seconds.resize(plan.steps.size(), 0.0);
    prof->minor_faults.resize(plan.steps.size(), 0);
    prof->major_faults.resize(plan.steps.size(), 0);
    ++prof->runs;
  }
  tbb_arena_->execute([&] {
    for (size_t si = 0; si < plan.steps.size(); ++si) {
      const graph::Step& s = plan.steps[si];
      if (prof == nullptr) {
        RunStep(s, ctx);
      } else {
        // Fault counters are read outside the timed region.
        struct rusage u0, u1;
        getrusage(RUSAGE_SELF, &u0);
        const auto t0 = std::chrono::steady_clock::now();
        RunStep(s, ctx);
        const auto t1 = std::chrono::steady_clock::now();
        getrusage(RUSAGE_SELF, &u1);
        prof->seconds[si] += std::chrono::duration<double>(t1 - t0).count();
        prof->minor_faults[si] += u1.ru_minflt - u0.ru_minflt;
        prof->major_faults[si] += u1.ru_majflt - u0.ru_majflt;
      }
      if (taps_ == nullptr) continue;
      for (int32_t ti : s.taps) {
        const graph::PlanTap& tap = plan.taps[ti];
        TapRecord r;
        r.name = tap.name;
        r.layer = tap.layer;
        r.pos0 = pos_;
        r.rows = tap.where.Rows(T);
        r.cols = tap.where.cols;
        r.data.resize(static_cast<size_t>(r.rows * r.cols));
        const float* src = reinterpret_cast<const float*>(base + tap.where.offset);
        for (int64_t row = 0; row < r.rows; ++row) {
          std::memcpy(r.data.data() + row * r.cols, src + row * tap.where.ld,
                      static_cast<size_t>(r.cols) * sizeof(float));
        }
        taps_->push_back(std::move(r));
      }
    }
  });

  const graph::Operand& o = plan.outputs[0].where;
  const int64_t rows = o.Rows(T);
  if (o.rows != graph::kTokenRows) out->data.clear();  // static rows: keep the last chunk's only
  out->cols = o.cols;
  const float* src = reinterpret_cast<const float*>(base + o.offset);
  const size_t at = out->data.size();
  out->data.resize(at + static_cast<size_t>(rows * o.cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(out->data.data() + at + r * o.cols, src + r * o.ld,
                static_cast<size_t>(o.cols) * sizeof(float));
  }
  out->rows = static_cast<int64_t>(out->data.size()) / o.cols;
  pos_ += T;
}

absl::StatusOr<Logits> Executor::Prefill(std::span<const int32_t> tokens) {
  SOV_RETURN_IF_ERROR(CheckTokens(tokens));
  Logits out;
  for (size_t at = 0; at < tokens.size(); at += static_cast<size_t>(opts_.prefill_rows)) {
    const size_t n = std::min(tokens.size() - at, static_cast<size_t>(opts_.prefill_rows));
    RunChunk(prefill_, tokens.subspan(at, n), &out);
  }
  return out;
}

absl::StatusOr<Logits> Executor::Decode(int32_t token) {
  const int32_t one[1] = {token};
  SOV_RETURN_IF_ERROR(CheckTokens(one));
  Logits out;
  RunChunk(decode_, one, &out);
  return out;
}

}  // namespace sov
