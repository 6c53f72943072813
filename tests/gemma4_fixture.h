// Shared helpers of the Gemma 4 parity tests: the transformers fixtures in
// tests/fixtures/<name>/ (config.json, model.safetensors, cases.safetensors).
#ifndef SOV_TESTS_GEMMA4_FIXTURE_H_
#define SOV_TESTS_GEMMA4_FIXTURE_H_

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/safetensors.h"

namespace sov::testing {

inline std::string FixtureDir(const std::string& name) {
  return std::string(SOV_SOURCE_DIR) + "/tests/fixtures/" + name;
}

inline bool FixtureExists(const std::string& name) {
  struct stat st;
  return ::stat((FixtureDir(name) + "/cases.safetensors").c_str(), &st) == 0;
}

// The fixtures the Python generator writes (transformers, fp32, eager).
inline std::vector<std::string> FixtureNames() {
  return {"e_style", "moe_style", "dense_style", "kv_share_alt", "kquant_style"};
}

struct Cases {
  std::vector<int32_t> tokens;
  std::vector<float> logits;         // [T, V]
  std::vector<float> residual;       // [L, T, H]: output of each decoder layer
  std::vector<float> decode_logits;  // [T - k, V]
  int64_t decode_prefix = 0;         // k
  int64_t T = 0, V = 0, L = 0, H = 0;
};

inline std::vector<float> F32(const SafetensorsReader& r, const std::string& name) {
  const SafetensorsTensor* t = r.Find(name);
  if (t == nullptr || t->dtype_name != "F32") return {};
  std::vector<float> v(static_cast<size_t>(t->numel()));
  std::memcpy(v.data(), t->data, v.size() * 4);
  return v;
}

inline absl::StatusOr<Cases> LoadCases(const std::string& name) {
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(FixtureDir(name) + "/cases.safetensors");
  if (!r.ok()) return r.status();
  Cases c;
  const SafetensorsTensor* tok = r->Find("tokens");
  const SafetensorsTensor* res = r->Find("residual");
  const SafetensorsTensor* lg = r->Find("logits");
  const SafetensorsTensor* dp = r->Find("decode_prefix");
  if (!tok || !res || !lg || !dp || tok->dtype_name != "I32" || dp->dtype_name != "I32")
    return absl::NotFoundError(name + ": cases.safetensors lacks tokens/residual/logits/decode_prefix");
  c.tokens.resize(static_cast<size_t>(tok->numel()));
  std::memcpy(c.tokens.data(), tok->data, c.tokens.size() * 4);
  int32_t k = 0;
  std::memcpy(&k, dp->data, 4);
  c.decode_prefix = k;
  c.logits = F32(*r, "logits");
  c.residual = F32(*r, "residual");
  c.decode_logits = F32(*r, "decode_logits");
  c.T = static_cast<int64_t>(c.tokens.size());
  c.V = lg->shape[1];
  c.L = res->shape[0];
  c.H = res->shape[2];
  return c;
}

inline double MaxAbsDiff(const float* a, const float* b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= m)) m = d;  // NaN counts as a difference
  }
  return m;
}

inline double MaxAbs(const float* a, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i])));
  return m;
}

}  // namespace sov::testing

#endif  // SOV_TESTS_GEMMA4_FIXTURE_H_
