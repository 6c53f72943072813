// sov run -m MODEL --tokens 2,818,5 -n N [--threads N]
// Greedy continuation: prints the N generated token ids.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/loader.h"

namespace sov::cli {
namespace {

absl::Status RunRun(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"bf16-weights"},
                                           {{"m", "model"}, {"n", "n"}, {"t", "threads"}}));
  SOV_RETURN_IF_ERROR(a.CheckKnown({"model", "tokens", "n", "threads", "bf16-weights"}));
  SOV_ASSIGN_OR_RETURN(std::string model, a.Require("model"));
  SOV_ASSIGN_OR_RETURN(std::string tok_text, a.Require("tokens"));
  SOV_ASSIGN_OR_RETURN(int64_t n, a.GetInt("n", 16));
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  if (n < 0) return absl::InvalidArgumentError("-n must be >= 0");
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  SOV_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, ParseIntList(tok_text));

  LoadOptions lo;
  lo.bf16_weights = a.Has("bf16-weights");
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Model> m, LoadGemma4(model, lo));
  SOV_RETURN_IF_ERROR(CheckTokens(m->config, tokens));
  if (static_cast<int64_t>(tokens.size()) + n > m->config.max_position_embeddings)
    return absl::InvalidArgumentError(absl::StrCat(
        tokens.size(), " prompt tokens + ", n, " new tokens exceed the context of ",
        m->config.max_position_embeddings, " (max_position_embeddings)"));
  RunnerOptions ro;
  ro.threads = static_cast<int>(threads);
  ro.max_tokens = static_cast<int64_t>(tokens.size());
  ro.context = static_cast<int64_t>(tokens.size()) + n;
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Runner> r, Gemma4Runner::Create(*m, ro));
  SOV_ASSIGN_OR_RETURN(std::vector<int32_t> out, r->Generate(tokens, n));
  for (size_t i = 0; i < out.size(); ++i) std::printf(i ? ",%d" : "%d", out[i]);
  std::printf("\n");
  return absl::OkStatus();
}

SOV_COMMAND(Command{"run", "greedy continuation of a token sequence (prints token ids)",
                    "usage: sov run -m MODEL_DIR --tokens 2,818,5,... -n N [--threads N] "
                    "[--bf16-weights]\n"
                    "  Prefills the prompt, then decodes N tokens greedily (argmax) one at a\n"
                    "  time and prints their ids, comma-separated.",
                    RunRun});

}  // namespace
}  // namespace sov::cli
