// sov quantize IN OUT --type Q4_K_M|Q5_K_M|Q8_0|BF16|F16|F32 [--imatrix FILE] [--threads N]
// Writes a Gemma 4 GGUF with llama-quantize's per-tensor types and layout.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/convert.h"

namespace sov::cli {
namespace {

constexpr char kUsage[] =
    "usage: sov quantize IN OUT --type Q4_K_M|Q5_K_M|Q8_0|BF16|F16|F32\n"
    "                    [--imatrix FILE] [--threads N] [--quiet]\n\n"
    "  IN         a Hugging Face Gemma 4 directory or a Gemma 4 GGUF (opened read-only)\n"
    "  OUT        the GGUF to write (written to OUT.tmp, then renamed)\n"
    "  --type     llama.cpp file type: per-tensor types follow llama-quantize\n"
    "             (Q6_K token embeddings, more bits for some attn_v/ffn_down,\n"
    "             row-size fallbacks)\n"
    "  --imatrix  llama.cpp importance matrix (imatrix GGUF or legacy .dat)\n"
    "  --threads  quantization threads (default: all); the bytes do not depend on it\n"
    "  --quiet    no progress bar on stderr";

absl::Status RunQuantize(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"quiet"}, {{"t", "threads"}}));
  SOV_RETURN_IF_ERROR(a.CheckKnown({"type", "imatrix", "threads", "quiet"}));
  if (a.positional().size() != 2)
    return absl::InvalidArgumentError(absl::StrCat("expected IN and OUT, got ", a.positional().size(),
                                                   " positional arguments\n", kUsage));
  SOV_ASSIGN_OR_RETURN(std::string type, a.Require("type"));
  std::optional<FileType> ft = ParseFileType(type);
  if (!ft)
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --type '", type, "' (expected Q4_K_M, Q5_K_M, Q8_0, BF16, F16 or F32)"));
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  if (threads < 0 || threads > 4096) return absl::InvalidArgumentError("--threads must be in [0, 4096]");
  QuantizeOptions opt;
  opt.ftype = *ft;
  opt.imatrix_path = a.GetOr("imatrix", "");
  opt.threads = static_cast<int>(threads);
  opt.progress = !a.Has("quiet");
  const std::string& in = a.positional()[0];
  const std::string& out = a.positional()[1];
  SOV_ASSIGN_OR_RETURN(QuantizeReport rep, QuantizeModel(in, out, opt));
  std::string types;
  for (const auto& [name, n] : rep.type_counts) absl::StrAppend(&types, types.empty() ? "" : ", ", n, " ", name);
  std::fprintf(stderr, "%s: %lld tensors (%s), %lld computed, %.2f MiB of tensor data%s\n", out.c_str(),
               static_cast<long long>(rep.tensors), types.c_str(), static_cast<long long>(rep.quantized),
               static_cast<double>(rep.bytes_out) / (1024.0 * 1024.0),
               opt.imatrix_path.empty()
                   ? ""
                   : absl::StrCat(", imatrix used for ", rep.imatrix_used, " tensors").c_str());
  return absl::OkStatus();
}

SOV_COMMAND(Command{"quantize", "convert/quantize a Gemma 4 model (HF dir or GGUF) to a GGUF file",
                    kUsage, RunQuantize});

}  // namespace
}  // namespace sov::cli
