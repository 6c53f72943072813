// Invariant checks and Status plumbing shared by every layer (header only, so
// the lower layers may include it without linking the runtime).
//
//   SOV_CHECK(cond) << ...   programming errors: prints and aborts.
//   SOV_RETURN_IF_ERROR(s)   propagates an absl::Status.
//   SOV_ASSIGN_OR_RETURN(lhs, expr)  unwraps an absl::StatusOr.
//
// Anything a user's file or flag can cause is an absl::Status, never a CHECK.
#ifndef SOV_RUNTIME_CHECK_H_
#define SOV_RUNTIME_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sov::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* expr) {
    os_ << file << ":" << line << ": SOV_CHECK failed: " << expr << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s\n", os_.str().c_str());
    std::fflush(stderr);
    std::abort();
  }
  std::ostream& stream() { return os_; }

 private:
  std::ostringstream os_;
};

// Lets `SOV_CHECK(x) << "msg"` compile to nothing on the success path.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace sov::internal

#define SOV_CHECK(cond)                        \
  (cond) ? (void)0                             \
         : ::sov::internal::Voidify() &        \
               ::sov::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()

#define SOV_CONCAT_INNER(a, b) a##b
#define SOV_CONCAT(a, b) SOV_CONCAT_INNER(a, b)

#define SOV_RETURN_IF_ERROR(expr)                \
  do {                                           \
    ::absl::Status sov_status_ = (expr);         \
    if (!sov_status_.ok()) return sov_status_;   \
  } while (0)

#define SOV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

#define SOV_ASSIGN_OR_RETURN(lhs, expr) \
  SOV_ASSIGN_OR_RETURN_IMPL(SOV_CONCAT(sov_statusor_, __LINE__), lhs, expr)

#endif  // SOV_RUNTIME_CHECK_H_
