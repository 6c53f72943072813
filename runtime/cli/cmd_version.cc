#include <cstdio>

#include "hwy/targets.h"
#include "runtime/cli/command.h"

namespace sov::cli {
namespace {

absl::Status RunVersion(const std::vector<std::string>& argv) {
  std::printf("sov 0.1.0\n");
  std::printf("highway targets compiled and supported:");
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) std::printf(" %s", hwy::TargetName(t));
  std::printf("\n");
  return absl::OkStatus();
}

SOV_COMMAND(Command{"version", "print the version and the SIMD targets this CPU can run",
                    "usage: sov version", RunVersion});

}  // namespace
}  // namespace sov::cli
