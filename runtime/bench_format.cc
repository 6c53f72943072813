// Output of `sov bench` in llama-bench's three layouts. Every format prints
// the same BenchReport; md rounds t/s to 2 decimals as llama-bench does.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "runtime/bench.h"

namespace sov {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// llama-bench's per-test fields (the subset that applies to a CPU runtime),
// then ours. CSV and JSON share this order.
struct Field {
  std::string name;
  nlohmann::ordered_json value;
};

std::vector<Field> Fields(const BenchReport& rep, const BenchResult& r) {
  auto opt = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  return {
      {"build_commit", "sov"},
      {"build_number", 0},
      {"cpu_info", rep.cpu_info},
      {"gpu_info", ""},
      {"backends", "CPU"},
      {"model_filename", rep.model.filename},
      {"model_type", rep.model.type},
      {"model_size", rep.model.size_bytes},
      {"model_n_params", rep.model.n_params},
      {"n_batch", rep.n_ubatch},
      {"n_ubatch", rep.n_ubatch},
      {"n_threads", rep.threads},
      {"type_k", rep.kv_type},
      {"type_v", rep.kv_type},
      {"n_gpu_layers", 0},
      {"flash_attn", false},
      {"use_mmap", true},
      {"embeddings", false},
      {"n_prompt", r.n_prompt},
      {"n_gen", r.n_gen},
      {"n_depth", r.n_depth},
      {"test_time", r.test_time},
      {"avg_ns", static_cast<int64_t>(r.avg_ns)},
      {"stddev_ns", static_cast<int64_t>(r.stddev_ns)},
      {"avg_ts", r.avg_ts},
      {"stddev_ts", r.stddev_ts},
      {"bytes_per_token", r.bytes_per_token},
      {"gbps", opt(r.gbps)},
      {"dram_gbps", rep.dram_gbps},
      {"roofline_frac", opt(r.roofline_frac)},
      {"flops_per_s", r.flops_per_s},
      {"peak_rss_bytes", rep.peak_rss_bytes},
      {"rss_file_bytes", rep.rss_file_bytes},
      {"rss_anon_bytes", rep.rss_anon_bytes},
  };
}

std::string CsvValue(const nlohmann::ordered_json& v) {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_null()) {
    s = "";
  } else if (v.is_number_float()) {
    s = absl::StrFormat("%.6f", v.get<double>());
  } else {
    s = v.dump();
  }
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

}  // namespace

std::string FormatJson(const BenchReport& rep) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const BenchResult& r : rep.results) {
    nlohmann::ordered_json rec = nlohmann::ordered_json::object();
    for (Field& f : Fields(rep, r)) rec[f.name] = std::move(f.value);
    std::vector<int64_t> ns;
    for (double x : r.samples_ns) ns.push_back(static_cast<int64_t>(x));
    rec["samples_ns"] = ns;
    rec["samples_ts"] = r.samples_ts;
    out.push_back(std::move(rec));
  }
  return out.dump(2) + "\n";
}

std::string FormatCsv(const BenchReport& rep) {
  std::string s;
  for (size_t i = 0; i < rep.results.size(); ++i) {
    const std::vector<Field> fields = Fields(rep, rep.results[i]);
    if (i == 0) {
      std::vector<std::string> names;
      for (const Field& f : fields) names.push_back(f.name);
      absl::StrAppend(&s, absl::StrJoin(names, ","), "\n");
    }
    std::vector<std::string> vals;
    for (const Field& f : fields) vals.push_back(CsvValue(f.value));
    absl::StrAppend(&s, absl::StrJoin(vals, ","), "\n");
  }
  return s;
}

std::string FormatMarkdown(const BenchReport& rep) {
  std::string s = absl::StrFormat(
      "| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s | %8s | %8s | %10s |\n", "model", "size",
      "params", "backend", "threads", "test", "t/s", "GB/s", "roofline", "GFLOP/s");
  absl::StrAppend(&s,
                  "| ------------------------------ | ---------: | ---------: | ---------- | "
                  "------: | --------------: | -------------------: | -------: | -------: | "
                  "---------: |\n");
  for (const BenchResult& r : rep.results) {
    const std::string ts = absl::StrFormat("%.2f ± %.2f", r.avg_ts, r.stddev_ts);
    const std::string gbps = r.gbps ? absl::StrFormat("%.2f", *r.gbps) : "-";
    const std::string roof =
        r.roofline_frac ? absl::StrFormat("%.1f%%", 100.0 * *r.roofline_frac) : "-";
    absl::StrAppend(
        &s, absl::StrFormat("| %-30s | %6.2f GiB | %8.2f B | %-10s | %7d | %15s | %20s | %8s | "
                            "%8s | %10.2f |\n",
                            rep.model.type, rep.model.size_bytes / kGiB, rep.model.n_params / 1e9,
                            "CPU", rep.threads, r.TestName(), ts, gbps, roof, r.flops_per_s / 1e9));
  }
  absl::StrAppend(&s, absl::StrFormat("\nDRAM read bandwidth (probe, %d threads): %.2f GB/s\n",
                                      rep.threads, rep.dram_gbps));
  absl::StrAppend(
      &s, absl::StrFormat(
              "Peak RSS: %.2f GiB (%.1f%% of the model size); at the end %.2f GiB "
              "mapped file, %.2f GiB anonymous\n",
              rep.peak_rss_bytes / kGiB,
              rep.model.size_bytes > 0 ? 100.0 * rep.peak_rss_bytes / rep.model.size_bytes : 0.0,
              rep.rss_file_bytes / kGiB, rep.rss_anon_bytes / kGiB));
  return s;
}

std::string FormatProfile(const BenchReport& rep) {
  if (rep.profile.empty()) return "";
  double total = 0.0;
  for (const OpProfileRow& p : rep.profile) total += p.sec_per_token;
  std::string s = absl::StrFormat(
      "\nDecode profile: %d tokens at depth %d, %d threads (per token; %% roofline = time the "
      "step's weight + KV bytes need at %.2f GB/s / time taken)\n\n",
      rep.profile_tokens, rep.profile_depth, rep.threads, rep.dram_gbps);
  absl::StrAppend(&s,
                  "| op | steps | us/token | % time | weight MB | KV MB | MFLOP | GB/s | "
                  "% roofline | faults/token (major) |\n| --- | ---: | ---: | ---: | ---: | ---: | "
                  "---: | ---: | ---: | ---: |\n");
  for (const OpProfileRow& p : rep.profile) {
    const double bytes = p.weight_bytes_per_token + p.kv_bytes_per_token;
    const double gbps = p.sec_per_token > 0 ? bytes / p.sec_per_token / 1e9 : 0.0;
    const double roof =
        p.sec_per_token > 0 ? (bytes / (rep.dram_gbps * 1e9)) / p.sec_per_token : 0.0;
    absl::StrAppend(
        &s, absl::StrFormat(
                "| %s | %d | %.1f | %.1f | %.3f | %.3f | %.3f | %.2f | %.1f | %.1f "
                "(%.1f) |\n",
                p.op, p.steps, p.sec_per_token * 1e6,
                total > 0 ? 100.0 * p.sec_per_token / total : 0.0, p.weight_bytes_per_token / 1e6,
                p.kv_bytes_per_token / 1e6, p.flops_per_token / 1e6, gbps, 100.0 * roof,
                p.minor_faults_per_token + p.major_faults_per_token, p.major_faults_per_token));
  }
  double faults = 0.0, major = 0.0;
  for (const OpProfileRow& p : rep.profile) {
    faults += p.minor_faults_per_token + p.major_faults_per_token;
    major += p.major_faults_per_token;
  }
  absl::StrAppend(&s, absl::StrFormat("| total | | %.1f | 100.0 | | | | | | %.1f (%.1f) |\n",
                                      total * 1e6, faults, major));
  return s;
}

}  // namespace sov
