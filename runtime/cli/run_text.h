// The text side of `sov run` (-p / --chat, and --tokens on a GGUF model):
// loads a TextModel and drives a Session. Kept apart from cmd_run.cc, which
// registers the command and keeps the Hugging Face --tokens path.
#ifndef SOV_RUNTIME_CLI_RUN_TEXT_H_
#define SOV_RUNTIME_CLI_RUN_TEXT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/cli/command.h"
#include "runtime/numerics.h"

namespace sov::cli {

// Flags run_text understands beyond cmd_run.cc's own.
const std::vector<std::string>& RunTextFlags();
// Switches (flags without a value) of run_text.
const std::vector<std::string>& RunTextSwitches();

// True when `a` asks for the text path: -p/--chat, or a GGUF model file.
bool WantsTextRun(const Args& a);

absl::Status RunText(const Args& a);

// --numerics if given, else the default for `model`: llama.cpp's arithmetic
// for GGUF files, the reference one for Hugging Face directories
// (runtime/numerics.h). Used by run, bench and logits alike.
absl::StatusOr<Numerics> NumericsFlag(const Args& a, const std::string& model);

}  // namespace sov::cli

#endif  // SOV_RUNTIME_CLI_RUN_TEXT_H_
