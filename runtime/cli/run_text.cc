#include "runtime/cli/run_text.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/session.h"
#include "runtime/str_util.h"
#include "runtime/text_model.h"
#include "runtime/weight_prefetch.h"

namespace sov::cli {
namespace {

void Print(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void PrintStats(const GenerationResult& r) {
  std::fprintf(stderr,
               "\n[prefill %lld tokens in %.3f s: %.1f tokens/s | decode %lld tokens in %.3f s: "
               "%.1f tokens/s | stop: %s]\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_seconds, r.prefill_tps(),
               static_cast<long long>(r.decode_steps), r.decode_seconds, r.decode_tps(),
               StopReasonName(r.stop));
}

absl::StatusOr<GenerateOptions> ParseGenerate(const Args& a) {
  GenerateOptions o;
  SOV_ASSIGN_OR_RETURN(o.max_new_tokens, a.GetInt("n", 128));
  if (o.max_new_tokens < 0) return absl::InvalidArgumentError("-n must be >= 0");
  SOV_ASSIGN_OR_RETURN(double temp, a.GetDouble("temp", 0.0));
  SOV_ASSIGN_OR_RETURN(int64_t top_k, a.GetInt("top-k", 0));
  SOV_ASSIGN_OR_RETURN(double top_p, a.GetDouble("top-p", 1.0));
  SOV_ASSIGN_OR_RETURN(double min_p, a.GetDouble("min-p", 0.0));
  SOV_ASSIGN_OR_RETURN(double rep, a.GetDouble("repeat-penalty", 1.0));
  SOV_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("seed", 0));
  if (top_k < 0 || top_k > INT32_MAX) return absl::InvalidArgumentError("--top-k must be >= 0");
  o.sampler.temperature = static_cast<float>(temp);
  o.sampler.top_k = static_cast<int32_t>(top_k);
  o.sampler.top_p = static_cast<float>(top_p);
  o.sampler.min_p = static_cast<float>(min_p);
  o.sampler.repeat_penalty = static_cast<float>(rep);
  o.sampler.seed = static_cast<uint64_t>(seed);
  // Sampler::Create validates the ranges and names the setting.
  SOV_RETURN_IF_ERROR(Sampler::Create(o.sampler).status());
  return o;
}

}  // namespace

const std::vector<std::string>& RunTextFlags() {
  static const auto* f = new std::vector<std::string>{
      "prompt",         "chat", "system", "temp",  "top-k",    "top-p", "min-p",
      "repeat-penalty", "seed", "ctx",    "stats", "numerics", "mmap"};
  return *f;
}

const std::vector<std::string>& RunTextSwitches() {
  static const auto* s = new std::vector<std::string>{"chat"};
  return *s;
}

bool WantsTextRun(const Args& a) {
  if (a.Has("prompt") || a.Has("chat")) return true;
  std::optional<std::string> m = a.Get("model");
  return m.has_value() && LooksLikeGguf(*m);
}

absl::StatusOr<Numerics> NumericsFlag(const Args& a, const std::string& model) {
  if (std::optional<std::string> n = a.Get("numerics")) return ParseNumerics(*n);
  return LooksLikeGguf(model) ? Numerics::kGgml : Numerics::kReference;
}

absl::Status RunText(const Args& a) {
  SOV_ASSIGN_OR_RETURN(std::string path, a.Require("model"));
  if (a.Has("tokens") && (a.Has("prompt") || a.Has("chat")))
    return absl::InvalidArgumentError("--tokens cannot be combined with -p or --chat");
  if (!a.Has("tokens") && !a.Has("prompt") && !a.Has("chat"))
    return absl::InvalidArgumentError("give a prompt with -p \"...\" (or --chat, or --tokens)");
  if (a.Has("bf16-weights"))
    return absl::InvalidArgumentError("--bf16-weights applies to Hugging Face directories only");
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  SOV_ASSIGN_OR_RETURN(int64_t ctx, a.GetInt("ctx", 0));
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (ctx < 0) return absl::InvalidArgumentError("--ctx must be >= 0");
  SOV_ASSIGN_OR_RETURN(GenerateOptions go, ParseGenerate(a));
  std::optional<std::string> prompt = a.Get("prompt");
  if (prompt.has_value()) {
    // Checked before loading so that bad input fails fast.
    if (prompt->empty()) return absl::InvalidArgumentError("the prompt (-p) is empty");
    SOV_RETURN_IF_ERROR(ValidateUtf8(*prompt));
  }

  SOV_ASSIGN_OR_RETURN(const MapPrefetch prefetch, ParseMapPrefetch(a.GetOr("mmap", "willneed")));

  SOV_ASSIGN_OR_RETURN(std::unique_ptr<TextModel> m, LoadTextModel(path));
  // Weights in the page cache before the first token (runtime/weight_prefetch.h).
  if (m->gguf != nullptr) SOV_RETURN_IF_ERROR(PrefetchGgufTensors(*m->gguf, prefetch));
  SessionOptions so;
  so.threads = static_cast<int>(threads);
  so.context = ctx;
  SOV_ASSIGN_OR_RETURN(so.numerics, NumericsFlag(a, path));
  if (ctx == 0 && !a.Has("chat")) {
    // One-shot: size the cache for this prompt; a too-long prompt is reported by Run.
    so.context = std::min<int64_t>(m->context_length, 4096);
  }
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::Create(*m, so));

  if (a.Has("tokens")) {
    SOV_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIntList(*a.Get("tokens")));
    // As on the Hugging Face path: exactly -n ids (default 16), EOS included.
    SOV_ASSIGN_OR_RETURN(go.max_new_tokens, a.GetInt("n", 16));
    go.use_stop_ids = false;
    SOV_ASSIGN_OR_RETURN(GenerationResult r, s->CompleteTokens(ids, go));
    const std::vector<int32_t>& out = r.tokens;
    for (size_t i = 0; i < out.size(); ++i) std::printf(i ? ",%d" : "%d", out[i]);
    std::printf("\n");
    if (a.Has("stats")) PrintStats(r);
    return absl::OkStatus();
  }

  if (!a.Has("chat")) {
    SOV_ASSIGN_OR_RETURN(GenerationResult r, s->Complete(*prompt, go, Print));
    Print("\n");
    PrintStats(r);
    return absl::OkStatus();
  }

  if (std::optional<std::string> sys = a.Get("system")) s->SetSystemPrompt(*sys);
  if (prompt.has_value()) {
    SOV_ASSIGN_OR_RETURN(GenerationResult r, s->Chat(*prompt, go, Print));
    Print("\n");
    PrintStats(r);
    return absl::OkStatus();
  }
  // Interactive: one user turn per line of stdin until EOF.
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    absl::StatusOr<GenerationResult> r = s->Chat(line, go, Print);
    if (!r.ok()) return r.status();
    Print("\n");
    PrintStats(*r);
  }
  return absl::OkStatus();
}

}  // namespace sov::cli
