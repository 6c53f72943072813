#include "runtime/json_util.h"

#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/str_util.h"

namespace sov {

using nlohmann::json;

absl::StatusOr<json> ParseJsonStrict(std::string_view text, std::string_view source) {
  // One key set per open object; object_start/object_end pair up even inside
  // arrays, so a stack tracks the object each key belongs to.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (duplicate.empty() && !open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json result;
  try {
    result = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    // e.what() already reads "... parse error at line L, column C: ...".
    return absl::InvalidArgumentError(
        absl::StrCat(Av(source), ": invalid JSON (byte ", e.byte, "): ", e.what()));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Av(source), ": invalid JSON: ", e.what()));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(source), ": invalid JSON: duplicate key \"", duplicate, "\""));
  }
  return result;
}

std::string JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::binary:
      return "binary";
    case json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

namespace {

// "got string \"abc\"" / "got array" — short values are echoed to help a
// user find the line.
std::string Got(const json& v) {
  std::string s = absl::StrCat("got ", JsonTypeName(v));
  if (v.is_primitive() && !v.is_null()) {
    std::string dumped = v.dump();
    if (dumped.size() > 40) dumped = dumped.substr(0, 40) + "...";
    absl::StrAppend(&s, " ", dumped);
  }
  return s;
}

absl::Status TypeError(std::string_view key, std::string_view expected, const json& v) {
  return absl::InvalidArgumentError(
      absl::StrCat("key \"", Av(key), "\": expected ", Av(expected), ", ", Got(v)));
}

// Finds `key` in `obj`; nullptr when absent (and errors if obj isn't an object).
absl::StatusOr<const json*> Find(const json& obj, std::string_view key) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("looking up key \"", Av(key), "\": not an object (", JsonTypeName(obj), ")"));
  }
  auto it = obj.find(key);
  if (it == obj.end()) return nullptr;
  return &*it;
}

absl::StatusOr<const json*> Require(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Find(obj, key);
  if (!v.ok()) return v.status();
  if (*v == nullptr) return absl::NotFoundError(absl::StrCat("missing key \"", Av(key), "\""));
  return v;
}

absl::StatusOr<int64_t> ToInt(const json& v, std::string_view key) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TypeError(key, "an integer that fits in int64", v);
    }
    return static_cast<int64_t>(u);
  }
  return TypeError(key, "an integer", v);
}

template <typename T, typename Fn>
absl::StatusOr<T> GetOr(const json& obj, std::string_view key, T def, Fn fn) {
  absl::StatusOr<const json*> v = Find(obj, key);
  if (!v.ok()) return v.status();
  if (*v == nullptr || (*v)->is_null()) return def;
  return fn(obj, key);
}

}  // namespace

absl::StatusOr<int64_t> GetInt(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  return ToInt(**v, key);
}

absl::StatusOr<int64_t> GetIntOr(const json& obj, std::string_view key, int64_t def) {
  return GetOr<int64_t>(obj, key, def, GetInt);
}

absl::StatusOr<double> GetDouble(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_number()) return TypeError(key, "a number", **v);
  return (*v)->get<double>();
}

absl::StatusOr<double> GetDoubleOr(const json& obj, std::string_view key, double def) {
  return GetOr<double>(obj, key, def, GetDouble);
}

absl::StatusOr<bool> GetBool(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_boolean()) return TypeError(key, "a boolean", **v);
  return (*v)->get<bool>();
}

absl::StatusOr<bool> GetBoolOr(const json& obj, std::string_view key, bool def) {
  return GetOr<bool>(obj, key, def, GetBool);
}

absl::StatusOr<std::string> GetString(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_string()) return TypeError(key, "a string", **v);
  return (*v)->get<std::string>();
}

absl::StatusOr<std::string> GetStringOr(const json& obj, std::string_view key,
                                        std::string_view def) {
  return GetOr<std::string>(obj, key, std::string(def), GetString);
}

absl::StatusOr<std::vector<std::string>> GetStringArray(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_array()) return TypeError(key, "an array of strings", **v);
  std::vector<std::string> out;
  out.reserve((*v)->size());
  for (size_t i = 0; i < (*v)->size(); ++i) {
    const json& e = (**v)[i];
    if (!e.is_string()) {
      return TypeError(absl::StrCat(Av(key), "[", i, "]"), "a string", e);
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> GetStringArrayOr(const json& obj, std::string_view key,
                                                          std::vector<std::string> def) {
  return GetOr<std::vector<std::string>>(obj, key, std::move(def), GetStringArray);
}

absl::StatusOr<std::vector<int64_t>> GetIntArray(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_array()) return TypeError(key, "an array of integers", **v);
  std::vector<int64_t> out;
  out.reserve((*v)->size());
  for (size_t i = 0; i < (*v)->size(); ++i) {
    absl::StatusOr<int64_t> e = ToInt((**v)[i], absl::StrCat(Av(key), "[", i, "]"));
    if (!e.ok()) return e.status();
    out.push_back(*e);
  }
  return out;
}

absl::StatusOr<const json*> GetObject(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Require(obj, key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_object()) return TypeError(key, "an object", **v);
  return *v;
}

absl::StatusOr<const json*> GetObjectOrNull(const json& obj, std::string_view key) {
  absl::StatusOr<const json*> v = Find(obj, key);
  if (!v.ok()) return v.status();
  if (*v == nullptr || (*v)->is_null()) return static_cast<const json*>(nullptr);
  if (!(*v)->is_object()) return TypeError(key, "an object", **v);
  return *v;
}

}  // namespace sov
