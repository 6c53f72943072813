// sov plan -m MODEL [--tokens N] --dump
// Prints the compiled prefill plan: ops, fused groups, buffers, peak memory.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/loader.h"

namespace sov::cli {
namespace {

absl::Status RunPlan(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"dump"}, {{"m", "model"}}));
  SOV_RETURN_IF_ERROR(a.CheckKnown({"model", "tokens", "dump"}));
  SOV_ASSIGN_OR_RETURN(std::string model, a.Require("model"));
  SOV_ASSIGN_OR_RETURN(int64_t t, a.GetInt("tokens", 16));
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Model> m, LoadGemma4(model, {}));
  if (t < 1 || t > m->config.max_position_embeddings)
    return absl::InvalidArgumentError(absl::StrCat("--tokens must be in [1, ",
                                                   m->config.max_position_embeddings, "], got ",
                                                   t));
  RunnerOptions ro;
  ro.max_tokens = t;
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Runner> r, Gemma4Runner::Create(*m, ro));
  std::string text = r->DumpPlan(a.Has("dump"));
  std::fwrite(text.data(), 1, text.size(), stdout);
  return absl::OkStatus();
}

SOV_COMMAND(Command{"plan", "compile a model and print its execution plan",
                    "usage: sov plan -m MODEL_DIR [--tokens N] [--dump]\n"
                    "  Compiles the prefill plan for N tokens (default 16) and prints a summary;\n"
                    "  --dump lists every op, fused group, buffer offset and size, and the peak\n"
                    "  memory.",
                    RunPlan});

}  // namespace
}  // namespace sov::cli
