// sov bench -m MODEL [-p 512] [-n 128] [-d 0,4096] [-r 5] [-t N] [-o md|csv|json]
//           [-oe md|csv|json] [--profile] [--seed S] [--probe-mib M]
//           [--mmap none|willneed|populate]
// llama-bench compatible throughput tests; see runtime/bench.h.
// (This file is not cmd_bench.cc: the build turns every *_bench.cc into a
// Google Benchmark executable.)
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/gemma4/builder.h"
#include "runtime/bench.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/cli/run_text.h"
#include "runtime/gguf_reader.h"
#include "runtime/loader.h"
#include "runtime/text_model.h"
#include "runtime/weight_prefetch.h"

namespace sov::cli {
namespace {

absl::StatusOr<std::vector<int64_t>> IntList(const Args& a, const std::string& name,
                                             const std::string& def) {
  const std::string text = a.GetOr(name, def);
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat("--", name, ": empty list"));
  absl::StatusOr<std::vector<int32_t>> v = ParseIntList(text);
  if (!v.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", v.status().message()));
  }
  return std::vector<int64_t>(v->begin(), v->end());
}

// llama.cpp's names of general.file_type (llama_ftype), for model_type.
std::string FileTypeName(uint32_t ft) {
  switch (ft) {
    case 0:
      return "all F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 14:
      return "Q4_K - Small";
    case 15:
      return "Q4_K - Medium";
    case 16:
      return "Q5_K - Small";
    case 17:
      return "Q5_K - Medium";
    case 18:
      return "Q6_K";
    case 32:
      return "BF16";
    default:
      return absl::StrCat("ftype ", ft);
  }
}

std::string ParamsLabel(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.1fB", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.0fM", n / 1e6);
  return absl::StrFormat("%.0fK", n / 1e3);
}

// Size, parameter count and llama-bench's "arch size ftype" label from the
// GGUF's tensor table and metadata.
BenchModelInfo InfoFromGguf(const std::string& path, const GgufReader& g) {
  BenchModelInfo info;
  info.filename = path;
  for (const GgufTensor& t : g.tensors()) {
    info.size_bytes += static_cast<int64_t>(t.nbytes);
    info.n_params += t.elements();
  }
  absl::StatusOr<std::string_view> arch = g.GetString("general.architecture");
  const std::string a = arch.ok() ? std::string(*arch) : "unknown";
  absl::StatusOr<uint32_t> ft = g.GetU32("general.file_type");
  info.type = absl::StrCat(a, " ", ParamsLabel(info.n_params), " ",
                           ft.ok() ? FileTypeName(*ft) : "unknown ftype");
  return info;
}

absl::Status Print(const std::string& fmt, const BenchReport& rep, std::FILE* to) {
  std::string s;
  if (fmt == "md") {
    s = FormatMarkdown(rep);
  } else if (fmt == "csv") {
    s = FormatCsv(rep);
  } else if (fmt == "json") {
    s = FormatJson(rep);
  } else if (fmt != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output: unknown format \"", fmt, "\" (md, csv, json or none)"));
  }
  std::fputs(s.c_str(), to);
  return absl::OkStatus();
}

absl::Status RunBenchCommand(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"profile"},
                                           {{"m", "model"},
                                            {"p", "n-prompt"},
                                            {"n", "n-gen"},
                                            {"d", "n-depth"},
                                            {"r", "repetitions"},
                                            {"t", "threads"},
                                            {"o", "output"},
                                            {"oe", "output-err"}}));
  SOV_RETURN_IF_ERROR(
      a.CheckKnown({"model", "n-prompt", "n-gen", "n-depth", "repetitions", "threads", "output",
                    "output-err", "profile", "seed", "probe-mib", "numerics", "mmap"}));
  if (!a.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", a.positional()[0], "\""));
  }
  SOV_ASSIGN_OR_RETURN(std::string model, a.Require("model"));
  BenchOptions opt;
  SOV_ASSIGN_OR_RETURN(opt.n_prompt, IntList(a, "n-prompt", "512"));
  SOV_ASSIGN_OR_RETURN(opt.n_gen, IntList(a, "n-gen", "128"));
  SOV_ASSIGN_OR_RETURN(opt.n_depth, IntList(a, "n-depth", "0"));
  SOV_ASSIGN_OR_RETURN(int64_t reps, a.GetInt("repetitions", 5));
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  SOV_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("seed", 1234));
  SOV_ASSIGN_OR_RETURN(int64_t probe_mib, a.GetInt("probe-mib", 1024));
  if (reps < 1 || reps > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("-r/--repetitions: ", reps, " not in [1, 1000]"));
  }
  if (threads < 0 || threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("-t/--threads: ", threads, " not in [0, 1024]"));
  }
  if (probe_mib < 1 || probe_mib > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("--probe-mib: ", probe_mib, " not in [1, 65536]"));
  }
  opt.reps = static_cast<int>(reps);
  opt.threads = static_cast<int>(threads);
  opt.seed = static_cast<uint64_t>(seed);
  opt.profile = a.Has("profile");
  SOV_ASSIGN_OR_RETURN(opt.numerics, NumericsFlag(a, model));
  opt.probe.bytes = static_cast<size_t>(probe_mib) << 20;
  SOV_ASSIGN_OR_RETURN(const MapPrefetch prefetch, ParseMapPrefetch(a.GetOr("mmap", "willneed")));
  const std::string out = a.GetOr("output", "md");
  const std::string err = a.GetOr("output-err", "none");
  for (const std::string& f : {out, err}) {
    if (f != "md" && f != "csv" && f != "json" && f != "none") {
      return absl::InvalidArgumentError(
          absl::StrCat("--output: unknown format \"", f, "\" (md, csv, json or none)"));
    }
  }

  // Gemma 3 GGUFs go through the architecture-neutral text model; everything
  // else (Gemma 4 GGUFs and HF directories) through the Gemma 4 loader.
  absl::StatusOr<BenchReport> rep = absl::UnknownError("no model loaded");
  bool done = false;
  if (LooksLikeGguf(model)) {
    SOV_ASSIGN_OR_RETURN(std::unique_ptr<GgufReader> probe, GgufReader::Open(model));
    absl::StatusOr<std::string_view> arch = probe->GetString("general.architecture");
    if (arch.ok() && *arch == "gemma3") {
      const BenchModelInfo info = InfoFromGguf(model, *probe);
      probe.reset();
      SOV_ASSIGN_OR_RETURN(std::unique_ptr<TextModel> m, LoadTextModel(model));
      if (m->gguf != nullptr) {
        opt.prepare = [&] { return PrefetchGgufTensors(*m->gguf, prefetch); };
      }
      SOV_ASSIGN_OR_RETURN(graph::Graph g, m->build_graph(/*last_row_only=*/true));
      rep = RunBench(g, *m->weights, info, opt);
      done = true;
    }
  }
  if (!done) {
    SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Model> m, LoadGemma4(model));
    BenchModelInfo info;  // HF directory: RunBench counts the weights the plan reads
    info.filename = model;
    info.type = "gemma4 safetensors";
    if (m->gguf != nullptr) {
      info = InfoFromGguf(model, *m->gguf);
      opt.prepare = [&] { return PrefetchGgufTensors(*m->gguf, prefetch); };
    }
    gemma4::BuildOptions bo;
    bo.last_row_only = true;
    SOV_ASSIGN_OR_RETURN(graph::Graph g, gemma4::BuildGraph(m->config, bo));
    rep = RunBench(g, *m->weights, info, opt);
  }
  SOV_RETURN_IF_ERROR(rep.status());
  SOV_RETURN_IF_ERROR(Print(out, *rep, stdout));
  SOV_RETURN_IF_ERROR(Print(err, *rep, stderr));
  if (opt.profile) std::fputs(FormatProfile(*rep).c_str(), out == "md" ? stdout : stderr);
  return absl::OkStatus();
}

SOV_COMMAND(Command{
    "bench", "llama-bench compatible prefill/decode throughput with a DRAM roofline",
    "usage: sov bench -m MODEL [-p 512] [-n 128] [-d 0] [-r 5] [-t THREADS]\n"
    "                 [-o md|csv|json] [-oe md|csv|json] [--profile] [--seed 1234]\n"
    "                 [--probe-mib 1024] [--mmap none|willneed|populate]\n"
    "  Tests pp<p> (one prefill of p tokens) and tg<n> (n single-token decode steps),\n"
    "  each at every depth d (the KV cache first holds d tokens), r timed repetitions\n"
    "  after one warm-up; -p/-n/-d take comma lists, 0 skips. Random token ids from\n"
    "  --seed. A streaming-read probe of --probe-mib MiB runs first (dram_gbps);\n"
    "  tg records add gbps (weight bytes per token x t/s) and roofline_frac.\n"
    "  -o prints to stdout, -oe a second copy of the same run to stderr.\n"
    "  --profile: per-op decode table (time, bytes, FLOPs, % of roofline).\n"
    "  --numerics reference|llama.cpp: KV cache and attention/GELU rounding\n"
    "  (default llama.cpp for GGUF files: fp16 KV cache; reference otherwise).\n"
    "  --mmap (GGUF): how the mapped weights are brought in after the probe:\n"
    "  willneed (default) reads the file into the page cache without mapping it\n"
    "  (the RSS grows only with the pages touched), populate also maps every page\n"
    "  (llama.cpp's default; the whole file counts in the RSS), none faults pages\n"
    "  in on first use (a cold embedding row is then a disk read inside decode).",
    RunBenchCommand});

}  // namespace
}  // namespace sov::cli
