#include "runtime/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/executor.h"

namespace sov {
namespace {

double MatrixBytes(const kernels::WeightView& w) {
  return static_cast<double>(w.rows) * static_cast<double>(w.row_bytes);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// Sample standard deviation (n - 1), as llama-bench reports it.
double StdDev(const std::vector<double>& v) {
  if (v.size() <= 1) return 0.0;
  const double m = Mean(v);
  double ss = 0.0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / (v.size() - 1));
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Weight bytes and FLOPs of a whole plan run over `n` tokens starting at
// `pos0`, in steps of `rows` (prefill chunks) or one token (decode).
StepCost RunCost(const graph::Plan& plan, int64_t n, int64_t pos0, int64_t rows) {
  StepCost total;
  for (int64_t at = 0; at < n; at += rows) {
    const int64_t T = std::min(rows, n - at);
    for (const graph::Step& s : plan.steps) {
      const StepCost c = PlanStepCost(plan, s, T, pos0 + at);
      total.weight_bytes += c.weight_bytes;
      total.kv_bytes += c.kv_bytes;
      total.flops += c.flops;
    }
  }
  return total;
}

// The process's high-water resident set (weights mapped in, arenas, KV
// cache, everything): VmHWM from /proc/self/status, which ResetPeakRss can
// lower; getrusage's maximum (never reset) where /proc is missing.
int64_t PeakRssBytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;  // "NNN kB"
  }
  struct rusage u;
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

// Sets the high-water mark back to the current RSS (Linux >= 4.0: writing
// "5" to /proc/self/clear_refs), so the bandwidth probe's buffer, freed by
// then, is not counted as the model's memory. A no-op where unsupported.
void ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

// Current resident bytes by kind from /proc/self/status: RssFile (mapped
// file pages: the weights) and RssAnon (heap: arena, KV cache, buffers).
void CurrentRss(int64_t* file, int64_t* anon) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    int64_t* to = line.rfind("RssFile:", 0) == 0   ? file
                  : line.rfind("RssAnon:", 0) == 0 ? anon
                                                   : nullptr;
    if (to != nullptr) *to = std::atoll(line.c_str() + 8) * 1024;  // "NNN kB"
  }
}

absl::Status CheckList(const char* flag, const std::vector<int64_t>& v, int64_t lo) {
  if (v.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty list"));
  for (int64_t x : v) {
    if (x < lo) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", x, " is below ", lo));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string BenchResult::TestName() const {
  std::string s = n_prompt > 0 ? absl::StrCat("pp", n_prompt) : absl::StrCat("tg", n_gen);
  if (n_depth > 0) absl::StrAppend(&s, " @ d", n_depth);
  return s;
}

StepCost PlanStepCost(const graph::Plan& plan, const graph::Step& s, int64_t T, int64_t pos0,
                      int kv_elem_bytes) {
  StepCost c;
  for (const graph::VectorRef& v : s.vecs) c.weight_bytes += v.data.size() * sizeof(float);
  switch (s.op) {
    case graph::OpKind::kEmbed:
      // A gather: only the looked-up rows leave DRAM (at most T distinct ones).
      for (const graph::MatrixRef& m : s.mats) {
        c.weight_bytes += static_cast<double>(std::min(T, m.view.rows)) * m.view.row_bytes;
      }
      return c;
    case graph::OpKind::kMoeExperts: {
      if (s.gate_up.empty() || s.down.empty()) return c;
      const double per_expert = MatrixBytes(s.gate_up[0]) + MatrixBytes(s.down[0]);
      const int64_t touched = std::min<int64_t>(s.n_experts, T * s.top_k);
      c.weight_bytes += touched * per_expert;
      const double macs = static_cast<double>(s.gate_up[0].rows) * s.gate_up[0].cols +
                          static_cast<double>(s.down[0].rows) * s.down[0].cols;
      c.flops += 2.0 * T * s.top_k * macs;
      return c;
    }
    case graph::OpKind::kAttention: {
      if (s.cache < 0 || s.cache >= static_cast<int32_t>(plan.caches.size())) return c;
      const graph::PlanCache& pc = plan.caches[s.cache];
      for (int64_t t = 0; t < T; ++t) {
        int64_t keys = pos0 + t + 1;
        if (pc.kind == graph::AttnKind::kSliding) keys = std::min(keys, pc.window);
        // q.k and p.v per head: 2 multiply-adds per head_dim element per key.
        c.flops += 4.0 * s.n_heads * pc.head_dim * keys;
      }
      // K and V rows (f32) of the last row's window; earlier rows reuse them.
      int64_t keys = pos0 + T;
      if (pc.kind == graph::AttnKind::kSliding) keys = std::min(keys, pc.window - 1 + T);
      c.kv_bytes += 2.0 * keys * pc.row_width() * kv_elem_bytes;
      return c;
    }
    default:
      for (const graph::MatrixRef& m : s.mats) {
        c.weight_bytes += MatrixBytes(m.view);
        c.flops += 2.0 * T * m.view.rows * m.view.cols;
      }
      return c;
  }
}

absl::StatusOr<BenchReport> RunBench(const graph::Graph& g, const graph::WeightProvider& weights,
                                     const BenchModelInfo& model, const BenchOptions& opt) {
  SOV_RETURN_IF_ERROR(CheckList("-p/--n-prompt", opt.n_prompt, 0));
  SOV_RETURN_IF_ERROR(CheckList("-n/--n-gen", opt.n_gen, 0));
  SOV_RETURN_IF_ERROR(CheckList("-d/--n-depth", opt.n_depth, 0));
  if (opt.reps < 1)
    return absl::InvalidArgumentError(absl::StrCat("-r/--repetitions: ", opt.reps, " is below 1"));
  if (opt.threads < 0)
    return absl::InvalidArgumentError(absl::StrCat("-t/--threads: ", opt.threads, " is below 0"));
  const int64_t max_p = *std::max_element(opt.n_prompt.begin(), opt.n_prompt.end());
  const int64_t max_n = *std::max_element(opt.n_gen.begin(), opt.n_gen.end());
  const int64_t max_d = *std::max_element(opt.n_depth.begin(), opt.n_depth.end());
  if (max_p == 0 && max_n == 0) {
    return absl::InvalidArgumentError("nothing to run: every -p and -n value is 0");
  }

  BenchReport rep;
  rep.model = model;
  rep.threads = opt.threads > 0
                    ? opt.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  rep.cpu_info = CpuModel();
  rep.kv_type = opt.numerics == Numerics::kGgml ? "f16" : "f32";

  // Probe first (same process, same threads as the tests), before the
  // executor's buffers exist and before `prepare` maps weights in: its buffer
  // is freed before they are resident, so it never adds to the peak RSS.
  BandwidthOptions bo = opt.probe;
  bo.threads = rep.threads;
  SOV_ASSIGN_OR_RETURN(rep.dram_gbps, MeasureReadBandwidth(bo));
  ResetPeakRss();
  if (opt.prepare) SOV_RETURN_IF_ERROR(opt.prepare());

  ExecutorOptions eo;
  eo.prefill_rows = std::clamp<int64_t>(std::max(max_p, max_d), 1, 256);
  eo.context = max_d + std::max(max_p, max_n);
  eo.threads = rep.threads;
  eo.numerics = opt.numerics;
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Executor> ex, Executor::Create(g, weights, eo));
  rep.n_ubatch = eo.prefill_rows;
  if (rep.model.size_bytes == 0) {
    // No file tensor table (HF directory): count each weight the plan reads once.
    std::map<const void*, std::pair<double, double>> seen;  // bytes, params
    for (const graph::Step& s : ex->prefill_plan().steps) {
      for (const graph::MatrixRef& m : s.mats) {
        seen[m.view.data] = {MatrixBytes(m.view), static_cast<double>(m.view.rows) * m.view.cols};
      }
      for (const auto* bank : {&s.gate_up, &s.down}) {
        for (const kernels::WeightView& w : *bank) {
          seen[w.data] = {MatrixBytes(w), static_cast<double>(w.rows) * w.cols};
        }
      }
      for (const graph::VectorRef& v : s.vecs) {
        if (!v.name.empty()) seen[v.data.data()] = {v.data.size() * 4.0, v.data.size() * 1.0};
      }
    }
    for (const auto& [ptr, bp] : seen) {
      rep.model.size_bytes += static_cast<int64_t>(bp.first);
      rep.model.n_params += static_cast<int64_t>(bp.second);
    }
  }
  const int64_t vocab = ex->prefill_plan().vocab;
  if (vocab < 1) return absl::InvalidArgumentError("bench: the model's plan reads no token ids");


  std::mt19937_64 rng(opt.seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
  auto tokens = [&](int64_t n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int32_t& x : t) x = pick(rng);
    return t;
  };
  // One repetition: fresh sequence, untimed depth fill, timed work. Returns seconds.
  auto run_once = [&](int64_t p, int64_t n, int64_t d) -> absl::StatusOr<double> {
    ex->Reset();
    if (d > 0) SOV_RETURN_IF_ERROR(ex->Prefill(tokens(d)).status());
    if (p > 0) {
      const std::vector<int32_t> prompt = tokens(p);
      const auto t0 = std::chrono::steady_clock::now();
      SOV_RETURN_IF_ERROR(ex->Prefill(prompt).status());
      return Seconds(t0);
    }
    const std::vector<int32_t> gen = tokens(n);
    const auto t0 = std::chrono::steady_clock::now();
    for (int32_t t : gen) SOV_RETURN_IF_ERROR(ex->Decode(t).status());
    return Seconds(t0);
  };

  const graph::Plan& pp_plan = ex->prefill_plan();
  const graph::Plan& tg_plan = ex->decode_plan();
  for (int64_t d : opt.n_depth) {
    std::vector<std::pair<int64_t, int64_t>> tests;
    for (int64_t p : opt.n_prompt)
      if (p > 0) tests.push_back({p, 0});
    for (int64_t n : opt.n_gen)
      if (n > 0) tests.push_back({0, n});
    for (auto [p, n] : tests) {
      BenchResult r;
      r.n_prompt = p;
      r.n_gen = n;
      r.n_depth = d;
      r.test_time = UtcNow();
      SOV_RETURN_IF_ERROR(run_once(p, n, d).status());  // warm-up
      const int64_t count = p + n;
      for (int i = 0; i < opt.reps; ++i) {
        SOV_ASSIGN_OR_RETURN(double sec, run_once(p, n, d));
        r.samples_ns.push_back(sec * 1e9);
        r.samples_ts.push_back(count / sec);
      }
      r.avg_ns = Mean(r.samples_ns);
      r.stddev_ns = StdDev(r.samples_ns);
      r.avg_ts = Mean(r.samples_ts);
      r.stddev_ts = StdDev(r.samples_ts);
      const StepCost cost =
          p > 0 ? RunCost(pp_plan, p, d, eo.prefill_rows) : RunCost(tg_plan, n, d, 1);
      r.flops = cost.flops;
      r.flops_per_s = cost.flops / (r.avg_ns * 1e-9);
      if (n > 0) {
        r.bytes_per_token = cost.weight_bytes / n;
        r.gbps = r.bytes_per_token * r.avg_ts / 1e9;
        const double roof_ts = rep.dram_gbps * 1e9 / r.bytes_per_token;
        r.roofline_frac = r.avg_ts / roof_ts;
      } else {
        r.bytes_per_token = RunCost(tg_plan, 1, d, 1).weight_bytes;
      }
      rep.results.push_back(std::move(r));
    }
  }

  if (opt.profile) {
    // A separate run so the timers never touch the figures above.
    rep.profile_depth = opt.n_depth[0];
    rep.profile_tokens = max_n > 0 ? max_n : 16;
    StepProfile prof;
    prof.plan = &tg_plan;
    ex->Reset();
    if (rep.profile_depth > 0) SOV_RETURN_IF_ERROR(ex->Prefill(tokens(rep.profile_depth)).status());
    ex->set_step_profile(&prof);
    for (int32_t t : tokens(rep.profile_tokens)) {
      absl::Status st = ex->Decode(t).status();
      if (!st.ok()) {
        ex->set_step_profile(nullptr);
        return st;
      }
    }
    ex->set_step_profile(nullptr);
    std::map<std::string, OpProfileRow> by_op;
    std::vector<std::string> order;
    const double tokens_run = static_cast<double>(prof.runs);
    for (size_t i = 0; i < tg_plan.steps.size(); ++i) {
      const graph::Step& s = tg_plan.steps[i];
      std::string op = graph::OpName(s.op);
      auto [it, fresh] = by_op.try_emplace(op);
      if (fresh) order.push_back(op);
      OpProfileRow& row = it->second;
      row.op = op;
      ++row.steps;
      row.sec_per_token += prof.seconds[i] / tokens_run;
      row.minor_faults_per_token += prof.minor_faults[i] / tokens_run;
      row.major_faults_per_token += prof.major_faults[i] / tokens_run;
      // Cost at the middle position of the profiled run.
      const StepCost c = PlanStepCost(tg_plan, s, 1, rep.profile_depth + rep.profile_tokens / 2,
                                      rep.kv_type == "f16" ? 2 : 4);
      row.weight_bytes_per_token += c.weight_bytes;
      row.kv_bytes_per_token += c.kv_bytes;
      row.flops_per_token += c.flops;
    }
    for (const std::string& op : order) rep.profile.push_back(by_op[op]);
    std::stable_sort(rep.profile.begin(), rep.profile.end(),
                     [](const OpProfileRow& a, const OpProfileRow& b) {
                       return a.sec_per_token > b.sec_per_token;
                     });
  }
  rep.peak_rss_bytes = PeakRssBytes();
  CurrentRss(&rep.rss_file_bytes, &rep.rss_anon_bytes);
  return rep;
}

}  // namespace sov
