// Inputs of the test vectors in spec quantization.md §14, shared by the
// quantizer tests and the CLI test.
#ifndef SOV_QUANT_TESTING_SPEC_DATA_H_
#define SOV_QUANT_TESTING_SPEC_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

namespace sov::testing {

// §14.4: 4 x 512 values from a 32-bit LCG, exactly representable.
inline std::vector<float> SpecMatrix() {
  std::vector<float> x(2048);
  uint32_t s = 12345;
  for (float& v : x) {
    s = s * 1664525u + 1013904223u;
    const int32_t i = static_cast<int32_t>(s >> 8) - 8388608;
    v = static_cast<float>(i) / 8388608.0f;
  }
  return x;
}

// §14.4: importance vector qw[c] = 1 + c % 7 for the 512 columns.
inline std::vector<float> SpecImatrix() {
  std::vector<float> w(512);
  for (int c = 0; c < 512; ++c) w[c] = static_cast<float>(1 + c % 7);
  return w;
}

// "0a ff" or "0aff" -> bytes; whitespace is ignored.
inline std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char ch : hex) {
    int v;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    else continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

}  // namespace sov::testing

#endif  // SOV_QUANT_TESTING_SPEC_DATA_H_
