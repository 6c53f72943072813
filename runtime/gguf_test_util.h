// Test helper: spells GGUF files byte by byte, so tests can build both valid
// files and every kind of malformed one without going through the writer.
#ifndef SOV_RUNTIME_GGUF_TEST_UTIL_H_
#define SOV_RUNTIME_GGUF_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace sov::testing {

class GgufBytes {
 public:
  GgufBytes& Raw(std::string_view s) {
    b_.append(s);
    return *this;
  }
  GgufBytes& U8(uint8_t v) { return Put(v); }
  GgufBytes& U32(uint32_t v) { return Put(v); }
  GgufBytes& I32(int32_t v) { return Put(v); }
  GgufBytes& U64(uint64_t v) { return Put(v); }
  GgufBytes& I64(int64_t v) { return Put(v); }
  GgufBytes& F32(float v) { return Put(v); }
  GgufBytes& Str(std::string_view s) {
    U64(s.size());
    return Raw(s);
  }
  // magic, version, tensor count, kv count
  GgufBytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF").U32(version).U64(n_tensors).U64(n_kv);
  }
  GgufBytes& KvU32(std::string_view key, uint32_t v) { return Str(key).I32(4).U32(v); }
  GgufBytes& KvStr(std::string_view key, std::string_view v) { return Str(key).I32(8).Str(v); }
  // A 1-D tensor info.
  GgufBytes& Info1(std::string_view name, int64_t ne0, int32_t type, uint64_t offset) {
    return Str(name).U32(1).I64(ne0).I32(type).U64(offset);
  }
  GgufBytes& PadTo(size_t align) {
    while (b_.size() % align) b_.push_back('\0');
    return *this;
  }
  GgufBytes& Fill(size_t n, char c = '\0') {
    b_.append(n, c);
    return *this;
  }
  size_t size() const { return b_.size(); }
  const std::string& str() const { return b_; }

 private:
  template <typename T>
  GgufBytes& Put(T v) {
    b_.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  std::string b_;
};

}  // namespace sov::testing

#endif  // SOV_RUNTIME_GGUF_TEST_UTIL_H_
