// sov synth --arch A --type T -o OUT.gguf [--seed S] [--threads N] [--layers N]
// A published-shape Gemma 4 model with deterministic synthetic weights.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/synth.h"

namespace sov::cli {
namespace {

constexpr char kUsage[] =
    "usage: sov synth --arch gemma4-e2b|gemma4-e4b|gemma4-26b-a4b|gemma4-31b\n"
    "                 --type Q4_K_M|Q5_K_M|Q8_0|BF16|F16|F32 -o OUT.gguf\n"
    "                 [--seed S] [--threads N] [--layers N] [--vocab GGUF | --no-vocab] [--quiet]\n\n"
    "  --arch     published Gemma 4 shapes (test-tiny, test-tiny-moe: miniatures for tests)\n"
    "  --type     llama.cpp file type; per-tensor types follow llama-quantize\n"
    "  -o         the GGUF to write (written to OUT.tmp, then renamed)\n"
    "  --seed     weights are a pure function of (seed, tensor name, element index); default 0\n"
    "  --threads  threads (default: all); the bytes do not depend on it\n"
    "  --layers   only the first N layers (quick tests)\n"
    "  --vocab    GGUF whose tokenizer.ggml.* keys are copied (default:\n"
    "             ~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf, the Gemma vocabulary);\n"
    "             --no-vocab writes no tokenizer (llama.cpp then refuses the file)\n"
    "  --quiet    no progress bar on stderr";

absl::Status RunSynth(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"quiet", "no-vocab"}, {{"o", "output"}, {"t", "threads"}}));
  SOV_RETURN_IF_ERROR(a.CheckKnown({"arch", "type", "output", "seed", "threads", "layers", "vocab", "no-vocab", "quiet"}));
  if (!a.positional().empty())
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a.positional()[0], "'\n", kUsage));
  SynthOptions opt;
  SOV_ASSIGN_OR_RETURN(opt.arch, a.Require("arch"));
  SOV_ASSIGN_OR_RETURN(std::string type, a.Require("type"));
  SOV_ASSIGN_OR_RETURN(std::string out, a.Require("output"));
  std::optional<FileType> ft = ParseFileType(type);
  if (!ft)
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --type '", type, "' (expected Q4_K_M, Q5_K_M, Q8_0, BF16, F16 or F32)"));
  opt.ftype = *ft;
  SOV_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("seed", 0));
  if (seed < 0) return absl::InvalidArgumentError("--seed must be >= 0");
  opt.seed = static_cast<uint64_t>(seed);
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  if (threads < 0 || threads > 4096) return absl::InvalidArgumentError("--threads must be in [0, 4096]");
  opt.threads = static_cast<int>(threads);
  SOV_ASSIGN_OR_RETURN(opt.layers, a.GetInt("layers", 0));
  if (a.Has("layers") && opt.layers < 1) return absl::InvalidArgumentError("--layers must be >= 1");
  if (a.Has("no-vocab") && a.Has("vocab"))
    return absl::InvalidArgumentError("--vocab and --no-vocab are mutually exclusive");
  if (a.Has("vocab")) {
    opt.vocab_gguf = a.GetOr("vocab", "");
  } else if (!a.Has("no-vocab")) {
    const char* home = std::getenv("HOME");
    opt.vocab_gguf = absl::StrCat(home != nullptr ? home : "", "/.cache/sovereign/gemma-3-270m-q4_k_m.gguf");
  }
  opt.progress = !a.Has("quiet");
  SOV_ASSIGN_OR_RETURN(QuantizeReport rep, SynthModel(opt, out));
  std::string types;
  for (const auto& [name, n] : rep.type_counts) absl::StrAppend(&types, types.empty() ? "" : ", ", n, " ", name);
  std::fprintf(stderr, "%s: %lld tensors (%s), %.2f MiB of tensor data\n", out.c_str(),
               static_cast<long long>(rep.tensors), types.c_str(),
               static_cast<double>(rep.bytes_out) / (1024.0 * 1024.0));
  return absl::OkStatus();
}

SOV_COMMAND(Command{"synth", "write a published-shape Gemma 4 GGUF with deterministic synthetic weights",
                    kUsage, RunSynth});

}  // namespace
}  // namespace sov::cli
