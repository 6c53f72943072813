// sov logits -m MODEL --tokens 2,818,5 -o out.npy [--threads N]
// Writes float32 logits [T, vocab] for every position as a NumPy .npy file.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/cli/run_text.h"
#include "runtime/executor.h"
#include "runtime/loader.h"
#include "runtime/numerics.h"
#include "runtime/text_model.h"

namespace sov::cli {
namespace {

// NPY v1.0: magic, version, little-endian header length, a Python dict
// literal padded with spaces and a newline so data starts at a multiple of 64.
absl::Status WriteNpy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  std::string dict = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows,
                                  ", ", cols, "), }");
  const size_t prefix = 10;  // magic(6) + version(2) + header length(2)
  size_t total = prefix + dict.size() + 1;
  const size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  const uint16_t hlen = static_cast<uint16_t>(dict.size());
  const unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                  static_cast<unsigned char>(hlen & 0xff),
                                  static_cast<unsigned char>(hlen >> 8)};
  bool ok = std::fwrite(head, 1, 10, f) == 10;
  ok = ok && std::fwrite(dict.data(), 1, dict.size(), f) == dict.size();
  const size_t n = static_cast<size_t>(rows * cols);
  ok = ok && std::fwrite(data, sizeof(float), n, f) == n;  // x86-64: already little-endian
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return absl::InternalError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

absl::Status RunLogits(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {"bf16-weights"},
                                           {{"m", "model"}, {"o", "output"}, {"t", "threads"}}));
  SOV_RETURN_IF_ERROR(
      a.CheckKnown({"model", "tokens", "output", "threads", "bf16-weights", "numerics", "taps"}));
  SOV_ASSIGN_OR_RETURN(std::string model, a.Require("model"));
  SOV_ASSIGN_OR_RETURN(std::string tok_text, a.Require("tokens"));
  SOV_ASSIGN_OR_RETURN(std::string out, a.Require("output"));
  SOV_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("threads", 0));
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (tok_text.empty()) return absl::InvalidArgumentError("--tokens: the token list is empty");
  SOV_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, ParseIntList(tok_text));
  const bool gguf = LooksLikeGguf(model);
  SOV_ASSIGN_OR_RETURN(const Numerics numerics, NumericsFlag(a, model));
  if (gguf) {
    // Architectures other than gemma4 go through the architecture-neutral text model.
    SOV_ASSIGN_OR_RETURN(std::unique_ptr<GgufReader> probe, GgufReader::Open(model));
    absl::StatusOr<std::string_view> arch = probe->GetString("general.architecture");
    if (arch.ok() && *arch != "gemma4") {
      probe.reset();
      SOV_ASSIGN_OR_RETURN(std::unique_ptr<TextModel> m, LoadTextModel(model));
      for (int32_t t : tokens) {
        if (t < 0 || t >= m->vocab_size)
          return absl::InvalidArgumentError(
              absl::StrCat("token id ", t, " is out of range [0, ", m->vocab_size, ")"));
      }
      if (static_cast<int64_t>(tokens.size()) > m->context_length)
        return absl::InvalidArgumentError(absl::StrCat(tokens.size(), " tokens exceed the context of ",
                                                       m->context_length));
      const std::optional<std::string> tap_dir = a.Get("taps");
      const bool debug = tap_dir.has_value() && m->build_debug_graph != nullptr;
      SOV_ASSIGN_OR_RETURN(graph::Graph g,
                           debug ? m->build_debug_graph() : m->build_graph(/*last_row_only=*/false));
      ExecutorOptions eo;
      eo.fuse = !debug;  // keep every tapped value (fusion does not change the arithmetic)
      eo.prefill_rows = std::min<int64_t>(static_cast<int64_t>(tokens.size()), 512);  // llama.cpp's n_ubatch
      eo.context = static_cast<int64_t>(tokens.size());
      eo.threads = static_cast<int>(threads);
      eo.numerics = numerics;
      SOV_ASSIGN_OR_RETURN(std::unique_ptr<Executor> ex, Executor::Create(g, *m->weights, eo));
      std::vector<TapRecord> taps;
      if (tap_dir.has_value()) ex->set_tap_sink(&taps);
      SOV_ASSIGN_OR_RETURN(Logits l, ex->Prefill(tokens));
      SOV_RETURN_IF_ERROR(WriteNpy(out, l.data.data(), l.rows, l.cols));
      if (tap_dir.has_value()) {
        // One .npy per tap and prefill chunk: LL_name_pPOS.npy (layer -1 -> "xx").
        for (const TapRecord& t : taps) {
          const std::string layer = t.layer < 0 ? "xx" : absl::StrCat(t.layer / 10, t.layer % 10);
          SOV_RETURN_IF_ERROR(WriteNpy(absl::StrCat(*tap_dir, "/", layer, "_", t.name, "_p", t.pos0,
                                                    ".npy"),
                                       t.data.data(), t.rows, t.cols));
        }
      }
      return absl::OkStatus();
    }
  }

  LoadOptions lo;
  lo.bf16_weights = a.Has("bf16-weights");
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Model> m, LoadGemma4(model, lo));
  SOV_RETURN_IF_ERROR(CheckTokens(m->config, tokens));
  RunnerOptions ro;
  ro.threads = static_cast<int>(threads);
  ro.max_tokens = static_cast<int64_t>(tokens.size());
  ro.numerics = numerics;
  SOV_ASSIGN_OR_RETURN(std::unique_ptr<Gemma4Runner> r, Gemma4Runner::Create(*m, ro));
  SOV_ASSIGN_OR_RETURN(std::vector<float> logits, r->Logits(tokens));
  return WriteNpy(out, logits.data(), static_cast<int64_t>(tokens.size()), m->config.vocab_size);
}

SOV_COMMAND(Command{"logits", "write float32 logits [T, vocab] of a token sequence to a .npy file",
                    "usage: sov logits -m MODEL_DIR --tokens 2,818,5,... -o out.npy "
                    "[--threads N] [--bf16-weights] [--numerics reference|llama.cpp]\n"
                    "  Runs the whole sequence as one prefill and writes the logits of every\n"
                    "  position (NumPy .npy, float32, shape (T, vocab)). MODEL: an HF\n"
                    "  directory or a GGUF file (gemma3, gemma4). --numerics defaults to\n"
                    "  llama.cpp for GGUF files (fp16 KV cache, its attention and GELU\n"
                    "  rounding) and reference otherwise. --taps DIR (gemma3 GGUFs): also\n"
                    "  writes the graph's tapped values (embeddings, per-layer residuals,\n"
                    "  final norm) as DIR/LL_name_pPOS.npy.",
                    RunLogits});

}  // namespace
}  // namespace sov::cli
