#include "runtime/numerics.h"

#include "absl/strings/str_cat.h"
#include "runtime/str_util.h"

namespace sov {

absl::StatusOr<Numerics> ParseNumerics(std::string_view name) {
  if (name == "reference") return Numerics::kReference;
  if (name == "llama.cpp" || name == "ggml") return Numerics::kGgml;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown numerics '", Av(name), "' (expected reference or llama.cpp)"));
}

const char* NumericsName(Numerics n) {
  return n == Numerics::kGgml ? "llama.cpp" : "reference";
}

}  // namespace sov
