// The text side of `sov run` (-p / --chat, and --tokens on a GGUF model):
// loads a TextModel and drives a Session. Kept apart from cmd_run.cc, which
// registers the command and keeps the Hugging Face --tokens path.
#ifndef SOV_RUNTIME_CLI_RUN_TEXT_H_
#define SOV_RUNTIME_CLI_RUN_TEXT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/cli/command.h"

namespace sov::cli {

// Flags run_text understands beyond cmd_run.cc's own.
const std::vector<std::string>& RunTextFlags();
// Switches (flags without a value) of run_text.
const std::vector<std::string>& RunTextSwitches();

// True when `a` asks for the text path: -p/--chat, or a GGUF model file.
bool WantsTextRun(const Args& a);

absl::Status RunText(const Args& a);

}  // namespace sov::cli

#endif  // SOV_RUNTIME_CLI_RUN_TEXT_H_
