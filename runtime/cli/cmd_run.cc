// sov run -m MODEL --tokens 2,818,5 -n N [--threads N]
// Greedy continuation: prints the N generated token ids.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/cli/run_text.h"
#include "runtime/loader.h"

namespace sov::cli {
namespace {

absl::Status RunRun(const std::vector<std::string>& argv) {
  std::vector<std::string> switches = {"bf16-weights"};
  switches.insert(switches.end(), RunTextSwitches().begin(), RunTextSwitches().end());
  SOV_ASSIGN_OR_RETURN(
      Args a, Args::Parse(argv, switches,
                          {{"m", "model"}, {"n", "n"}, {"t", "threads"}, {"p", "prompt"}}));
  std::vector<std::string> known = {"model", "tokens", "n", "threads", "bf16-weights"};
  known.insert(known.end(), RunTextFlags().begin(), RunTextFlags().end());
  SOV_RETURN_IF_ERROR(a.CheckKnown(known));
  // Text generation (-p, --chat) and any GGUF model: runtime/cli/run_text.cc.
  if (WantsTextRun(a)) return RunText(a);
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

SOV_COMMAND(Command{"run", "generate text from a prompt (-p, --chat) or continue token ids",
                    "usage: sov run -m MODEL -p \"text\" [-n N] [--chat] [--system TEXT]\n"
                    "           [--temp T --top-k K --top-p P --min-p M --repeat-penalty R\n"
                    "            --seed S] [--threads N] [--ctx N] [--mmap MODE]\n"
                    "       sov run -m MODEL --tokens 2,818,5,... -n N [--threads N] "
                    "[--bf16-weights]\n"
                    "  -p: MODEL is a GGUF file (gemma3, gemma4); the prompt gets one <bos>,\n"
                    "  the continuation streams to stdout and prefill/decode tokens/s go to\n"
                    "  stderr. Sampling defaults to greedy (--temp 0); -n defaults to 128.\n"
                    "  --chat: the prompt is a user turn in the model's chat format; without\n"
                    "  -p, each line of stdin is a turn and the conversation stays in the KV\n"
                    "  cache. --ctx: positions the cache holds (default min(model, 4096)).\n"
                    "  --mmap (GGUF): willneed (default: read the weights into the page\n"
                    "  cache first, map on use), populate (also map every page, as\n"
                    "  llama.cpp does), none (fault pages in on first use).\n"
                    "  --tokens: prefills the ids, then decodes N tokens greedily (argmax)\n"
                    "  and prints their ids, comma-separated (MODEL: an HF directory or a\n"
                    "  GGUF file).",
                    RunRun});

}  // namespace
}  // namespace sov::cli
