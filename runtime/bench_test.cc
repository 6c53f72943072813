// `sov bench` end to end on a tiny fixture GGUF (output formats, field
// consistency, bad flags) and the bandwidth probe. No wall-clock thresholds:
// every check holds on any machine at any load.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/bandwidth_probe.h"

namespace sov {
namespace {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out, err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result Sov(const std::string& args) {
  const std::string dir = ::testing::TempDir();
  const std::string out = dir + "/bench_out.txt", err = dir + "/bench_err.txt";
  const std::string cmd =
      std::string(SOV_BIN_PATH) + " " + args + " > " + out + " 2> " + err + " < /dev/null";
  const int st = std::system(cmd.c_str());
  Result r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

// Splits one CSV line whose every field is double-quoted ("" escapes a quote).
std::vector<std::string> CsvFields(const std::string& line) {
  std::vector<std::string> f;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  f.push_back(cur);
  return f;
}

class BenchCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/sov_bench_test");
    fs::create_directories(*dir_);
    gguf_ = new std::string(*dir_ + "/kquant_q4km.gguf");
    const Result q = Sov(absl::StrFormat("quantize %s/tests/fixtures/kquant_style %s --type Q4_K_M",
                                         SOV_SOURCE_DIR, *gguf_));
    ASSERT_EQ(q.rc, 0) << q.out << q.err;
  }
  static std::string Bench(const std::string& extra) {
    return absl::StrFormat("bench -m %s --probe-mib 16 -t 1 %s", *gguf_, extra);
  }
  static std::string* dir_;
  static std::string* gguf_;
};
std::string* BenchCli::dir_ = nullptr;
std::string* BenchCli::gguf_ = nullptr;

const char* const kFields[] = {
    "build_commit", "cpu_info",       "backends",      "model_filename",  "model_type",
    "model_size",   "model_n_params", "n_batch",       "n_ubatch",        "n_threads",
    "n_prompt",     "n_gen",          "n_depth",       "test_time",       "avg_ns",
    "stddev_ns",    "avg_ts",         "stddev_ts",     "samples_ns",      "samples_ts",
    "gbps",         "dram_gbps",      "roofline_frac", "bytes_per_token", "flops_per_s"};

TEST_F(BenchCli, JsonRecordsAreCompleteAndConsistentWithMarkdown) {
  const Result r = Sov(Bench("-p 8 -n 4 -r 2 -o json -oe md"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  for (const nlohmann::json& rec : j) {
    for (const char* f : kFields) EXPECT_TRUE(rec.contains(f)) << f;
    EXPECT_EQ(rec["model_filename"], *gguf_);
    EXPECT_EQ(rec["n_threads"], 1);
    EXPECT_EQ(rec["n_depth"], 0);
    EXPECT_GT(rec["model_size"].get<int64_t>(), 0);
    EXPECT_GT(rec["model_n_params"].get<int64_t>(), 0);
    EXPECT_NE(rec["model_type"].get<std::string>().find("Q4_K - Medium"), std::string::npos);
    const std::vector<double> ts = rec["samples_ts"];
    const std::vector<int64_t> ns = rec["samples_ns"];
    ASSERT_EQ(ts.size(), 2u);
    ASSERT_EQ(ns.size(), 2u);
    const double mean = std::accumulate(ts.begin(), ts.end(), 0.0) / ts.size();
    EXPECT_NEAR(rec["avg_ts"].get<double>(), mean, 1e-9 * mean);
    const int64_t count = rec["n_prompt"].get<int64_t>() + rec["n_gen"].get<int64_t>();
    for (size_t i = 0; i < ts.size(); ++i) {
      // samples_ns is truncated to whole nanoseconds: relative error < 1/ns.
      EXPECT_NEAR(ts[i], count * 1e9 / ns[i], ts[i] * 2.0 / ns[i]);
    }
    EXPECT_GT(rec["dram_gbps"].get<double>(), 0.0);
    EXPECT_GT(rec["bytes_per_token"].get<double>(), 0.0);
    EXPECT_GT(rec["flops_per_s"].get<double>(), 0.0);
    // The md table (stderr) carries the same t/s, rounded as llama-bench rounds.
    const std::string test = rec["n_prompt"].get<int64_t>() > 0 ? "pp8" : "tg4";
    const std::string ts_cell =
        absl::StrFormat("%.2f ± %.2f", rec["avg_ts"].get<double>(), rec["stddev_ts"].get<double>());
    bool found = false;
    for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
      if (line.find(" " + test + " |") != absl::string_view::npos) {
        found = true;
        EXPECT_NE(line.find(ts_cell), absl::string_view::npos) << line << " vs " << ts_cell;
      }
    }
    EXPECT_TRUE(found) << "no md row for " << test << " in:\n" << r.err;
  }
  const nlohmann::json& pp = j[0];
  const nlohmann::json& tg = j[1];
  EXPECT_EQ(pp["n_prompt"], 8);
  EXPECT_EQ(pp["n_gen"], 0);
  EXPECT_TRUE(pp["gbps"].is_null());
  EXPECT_TRUE(pp["roofline_frac"].is_null());
  EXPECT_EQ(tg["n_prompt"], 0);
  EXPECT_EQ(tg["n_gen"], 4);
  // gbps and roofline_frac follow from the other fields.
  const double bpt = tg["bytes_per_token"], avg = tg["avg_ts"], dram = tg["dram_gbps"];
  EXPECT_NEAR(tg["gbps"].get<double>(), bpt * avg / 1e9, 1e-9 * bpt * avg / 1e9);
  const double roof = avg / (dram * 1e9 / bpt);
  EXPECT_NEAR(tg["roofline_frac"].get<double>(), roof, 1e-9 * roof);
  // Decode streams at most the whole file once per token (gathers read rows only).
  EXPECT_LE(bpt, tg["model_size"].get<double>() * 1.01);
}

TEST_F(BenchCli, CsvCarriesTheJsonNumbers) {
  const Result r = Sov(Bench("-p 4 -n 2 -r 3 -d 0,3 -o csv -oe json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.err);
  ASSERT_EQ(j.size(), 4u);  // pp4, tg2 at depths 0 and 3
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << r.out;
  const std::vector<std::string> head = CsvFields(lines[0]);
  auto col = [&](const std::string& name) {
    for (size_t i = 0; i < head.size(); ++i)
      if (head[i] == name) return static_cast<int>(i);
    ADD_FAILURE() << "CSV has no column " << name;
    return 0;
  };
  for (size_t k = 0; k < j.size(); ++k) {
    const std::vector<std::string> row = CsvFields(lines[k + 1]);
    ASSERT_EQ(row.size(), head.size());
    EXPECT_EQ(j[k]["samples_ts"].size(), 3u);
    EXPECT_EQ(row[col("n_prompt")], std::to_string(j[k]["n_prompt"].get<int64_t>()));
    EXPECT_EQ(row[col("n_gen")], std::to_string(j[k]["n_gen"].get<int64_t>()));
    EXPECT_EQ(row[col("n_depth")], std::to_string(j[k]["n_depth"].get<int64_t>()));
    EXPECT_EQ(row[col("avg_ts")], absl::StrFormat("%.6f", j[k]["avg_ts"].get<double>()));
    EXPECT_EQ(row[col("stddev_ts")], absl::StrFormat("%.6f", j[k]["stddev_ts"].get<double>()));
    EXPECT_EQ(row[col("model_size")], std::to_string(j[k]["model_size"].get<int64_t>()));
  }
  EXPECT_EQ(j[0]["n_depth"], 0);
  EXPECT_EQ(j[2]["n_depth"], 3);
  EXPECT_EQ(j[3]["n_gen"], 2);
}

// e_style (f32 HF directory, tied embeddings, Per-Layer Embeddings): a decode
// token streams every weight once, except the two tables it gathers from: the
// PLE table [vocab_ple, layers * ple_dim] gives one row, the token embedding
// one row on top of its full read as the tied LM head.
TEST_F(BenchCli, DecodeBytesCountGatheredRowsOnly) {
  const Result r =
      Sov(absl::StrFormat("bench -m %s/tests/fixtures/e_style -p 0 -n 2 -r 1 -t 1 "
                          "--probe-mib 16 -o json",
                          SOV_SOURCE_DIR));
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  std::ifstream cf(std::string(SOV_SOURCE_DIR) + "/tests/fixtures/e_style/config.json");
  nlohmann::json c = nlohmann::json::parse(cf);
  if (c.contains("text_config")) c = c["text_config"];
  const int64_t ple_row =
      c["num_hidden_layers"].get<int64_t>() * c["hidden_size_per_layer_input"].get<int64_t>() * 4;
  const int64_t ple_table = c["vocab_size_per_layer_input"].get<int64_t>() * ple_row;
  const int64_t emb_row = c["hidden_size"].get<int64_t>() * 4;
  const double size = j[0]["model_size"].get<double>();
  const double bpt = j[0]["bytes_per_token"].get<double>();
  EXPECT_EQ(size - bpt, static_cast<double>(ple_table - ple_row - emb_row));
}

TEST_F(BenchCli, ProfileListsDecodeOps) {
  const Result r = Sov(Bench("-p 0 -n 3 -r 1 --profile"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Decode profile: 3 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| attention |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| total |"), std::string::npos) << r.out;
  // Page faults per token (major in parentheses) close every row.
  EXPECT_NE(r.out.find("| faults/token (major) |"), std::string::npos) << r.out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, "| embed |") && !absl::StartsWith(line, "| total |")) continue;
    const size_t open = line.rfind('(');
    ASSERT_NE(open, absl::string_view::npos) << line;
    double minor_major = -1, major = -1;
    ASSERT_EQ(std::sscanf(std::string(line.substr(line.rfind('|', open) + 1)).c_str(), "%lf (%lf)",
                          &minor_major, &major),
              2)
        << line;
    EXPECT_GE(major, 0.0) << line;
    EXPECT_GE(minor_major, major) << line;
  }
}

// peak_rss_bytes is the process high-water mark: positive in every mode, and
// with --mmap populate (every tensor byte mapped before the tests) at least
// the model's tensor bytes. The markdown names it too.
TEST_F(BenchCli, PeakRssCoversThePopulatedModel) {
  for (const char* mode : {"populate", "willneed", "none"}) {
    const Result r = Sov(Bench(absl::StrCat("-p 0 -n 2 -r 1 -o json -oe md --mmap ", mode)));
    ASSERT_EQ(r.rc, 0) << mode << ": " << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    for (const char* f : {"peak_rss_bytes", "rss_file_bytes", "rss_anon_bytes"}) {
      ASSERT_TRUE(j[0].contains(f)) << f;
    }
    const int64_t peak = j[0]["peak_rss_bytes"].get<int64_t>();
    const int64_t size = j[0]["model_size"].get<int64_t>();
    EXPECT_GT(peak, 0) << mode;
    const int64_t file = j[0]["rss_file_bytes"].get<int64_t>();
    const int64_t anon = j[0]["rss_anon_bytes"].get<int64_t>();
    EXPECT_GT(file, 0) << mode;
    EXPECT_GT(anon, 0) << mode;
    EXPECT_LE(file + anon, peak + (1 << 20)) << mode;  // shmem aside, now <= high-water
    if (std::string(mode) == "populate") EXPECT_GE(peak, size) << mode;
    EXPECT_NE(r.err.find("Peak RSS: "), std::string::npos) << r.err;
  }
}

TEST_F(BenchCli, BadFlagsAreClearErrors) {
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {Bench("-r 0"), "--repetitions"},
      {Bench("-o xml"), "unknown format \"xml\""},
      {Bench("-p 8,x"), "--n-prompt"},
      {Bench("-p -4"), "-p/--n-prompt: -4"},
      {Bench("-t -1"), "--threads"},
      {Bench("--thread 2"), "thread"},
      {Bench("-p 0 -n 0"), "nothing to run"},
      {Bench("--mmap eager"), "unknown mmap prefetch mode \"eager\" (none, willneed or populate)"},
      {"bench -p 8", "model"},
      {"bench -m /nonexistent/model.gguf", "/nonexistent/model.gguf"},
  };
  for (const Case& c : cases) {
    const Result r = Sov(c.args);
    EXPECT_NE(r.rc, 0) << c.args;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.args << ": " << r.err;
  }
}

TEST(BandwidthProbe, ReturnsAPositiveRate) {
  BandwidthOptions o;
  o.bytes = 8 << 20;
  o.threads = 2;
  o.passes = 1;
  o.repeats = 2;
  absl::StatusOr<double> g = MeasureReadBandwidth(o);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GT(*g, 0.0);
  EXPECT_TRUE(std::isfinite(*g));
}

TEST(BandwidthProbe, RejectsBadOptions) {
  BandwidthOptions o;
  o.threads = 0;
  EXPECT_FALSE(MeasureReadBandwidth(o).ok());
  o = {};
  o.bytes = 100;
  absl::StatusOr<double> g = MeasureReadBandwidth(o);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("4 KiB"), std::string::npos);
}

}  // namespace
}  // namespace sov
