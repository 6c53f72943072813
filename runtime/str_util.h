// Debian's abseil is built with its own absl::string_view (not an alias of
// std::string_view), so absl::StrCat and friends do not accept a
// std::string_view. Av() bridges the two without a copy.
#ifndef SOV_RUNTIME_STR_UTIL_H_
#define SOV_RUNTIME_STR_UTIL_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace sov {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace sov

#endif  // SOV_RUNTIME_STR_UTIL_H_
