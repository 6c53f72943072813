// Strict JSON parsing for files users hand us (safetensors headers,
// config.json, index files) and typed getters whose errors name the key.
//
// nlohmann::json keeps one value silently when an object repeats a key; a
// checkpoint with two entries for one tensor name is corrupt, so the parser
// here rejects duplicate keys at every depth.
#ifndef SOV_RUNTIME_JSON_UTIL_H_
#define SOV_RUNTIME_JSON_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sov {

// Parses `text`; errors start with `source` (a file name) and give the parse
// error position (line, column, byte) or the duplicated key.
absl::StatusOr<nlohmann::json> ParseJsonStrict(std::string_view text, std::string_view source);

// JSON type of `v` in words ("string", "integer", "array", ...), for errors.
std::string JsonTypeName(const nlohmann::json& v);

// Typed getters on an object. Errors name the key and the expected type,
// e.g. `key "hidden_size": expected an integer, got string "abc"`, or say the
// key is missing. The *Or variants return `def` when the key is absent or
// null (HF writes null for "unset").
absl::StatusOr<int64_t> GetInt(const nlohmann::json& obj, std::string_view key);
absl::StatusOr<int64_t> GetIntOr(const nlohmann::json& obj, std::string_view key, int64_t def);
// Accepts integers too (configs write 10000 as well as 10000.0).
absl::StatusOr<double> GetDouble(const nlohmann::json& obj, std::string_view key);
absl::StatusOr<double> GetDoubleOr(const nlohmann::json& obj, std::string_view key, double def);
absl::StatusOr<bool> GetBool(const nlohmann::json& obj, std::string_view key);
absl::StatusOr<bool> GetBoolOr(const nlohmann::json& obj, std::string_view key, bool def);
absl::StatusOr<std::string> GetString(const nlohmann::json& obj, std::string_view key);
absl::StatusOr<std::string> GetStringOr(const nlohmann::json& obj, std::string_view key,
                                        std::string_view def);
absl::StatusOr<std::vector<std::string>> GetStringArray(const nlohmann::json& obj,
                                                        std::string_view key);
absl::StatusOr<std::vector<std::string>> GetStringArrayOr(const nlohmann::json& obj,
                                                          std::string_view key,
                                                          std::vector<std::string> def);
absl::StatusOr<std::vector<int64_t>> GetIntArray(const nlohmann::json& obj, std::string_view key);
// A nested object (e.g. "rope_parameters"); the pointer is into `obj`.
absl::StatusOr<const nlohmann::json*> GetObject(const nlohmann::json& obj, std::string_view key);
// nullptr when absent or null.
absl::StatusOr<const nlohmann::json*> GetObjectOrNull(const nlohmann::json& obj,
                                                      std::string_view key);

}  // namespace sov

#endif  // SOV_RUNTIME_JSON_UTIL_H_
