// Typed metadata access of GgufReader: the type rules llama.cpp applies when
// it reads keys (gguf.md §9.1), with errors that name the key and both types.
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/str_util.h"
#include "runtime/gguf_reader.h"

namespace sov {

absl::StatusOr<const GgufKV*> GgufReader::Require(std::string_view key) const {
  const GgufKV* kv = FindKV(key);
  if (kv == nullptr) return absl::NotFoundError(absl::StrCat(name_, ": key '", Av(key), "' not found"));
  return kv;
}

absl::Status GgufReader::TypeError(const GgufKV& kv, std::string_view expected) const {
  return absl::InvalidArgumentError(absl::StrCat(name_, ": key '", Av(kv.key), "' has type ",
                                                 kv.TypeName(), ", expected ", Av(expected),
                                                 " (at offset ", kv.offset, ")"));
}

template <typename T>
absl::StatusOr<T> GgufReader::GetScalar(std::string_view key, GgufType type) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (kv->type != type) return TypeError(*kv, GgufTypeName(type));
  return kv->Get<T>();
}

absl::StatusOr<uint8_t> GgufReader::GetU8(std::string_view key) const {
  return GetScalar<uint8_t>(key, GgufType::kUint8);
}
absl::StatusOr<uint16_t> GgufReader::GetU16(std::string_view key) const {
  return GetScalar<uint16_t>(key, GgufType::kUint16);
}
absl::StatusOr<int16_t> GgufReader::GetI16(std::string_view key) const {
  return GetScalar<int16_t>(key, GgufType::kInt16);
}
absl::StatusOr<uint32_t> GgufReader::GetU32(std::string_view key) const {
  return GetScalar<uint32_t>(key, GgufType::kUint32);
}
absl::StatusOr<int32_t> GgufReader::GetI32(std::string_view key) const {
  return GetScalar<int32_t>(key, GgufType::kInt32);
}
absl::StatusOr<uint64_t> GgufReader::GetU64(std::string_view key) const {
  return GetScalar<uint64_t>(key, GgufType::kUint64);
}
absl::StatusOr<int64_t> GgufReader::GetI64(std::string_view key) const {
  return GetScalar<int64_t>(key, GgufType::kInt64);
}
absl::StatusOr<float> GgufReader::GetF32(std::string_view key) const {
  return GetScalar<float>(key, GgufType::kFloat32);
}
absl::StatusOr<double> GgufReader::GetF64(std::string_view key) const {
  return GetScalar<double>(key, GgufType::kFloat64);
}
absl::StatusOr<bool> GgufReader::GetBool(std::string_view key) const {
  // Any non-zero byte is true, as in ggml.
  SOV_ASSIGN_OR_RETURN(uint8_t b, GetScalar<uint8_t>(key, GgufType::kBool));
  return b != 0;
}

absl::StatusOr<std::string_view> GgufReader::GetString(std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (kv->type != GgufType::kString) return TypeError(*kv, "STRING");
  return kv->str;
}

absl::StatusOr<uint32_t> GgufReader::GetU32Or(std::string_view key, uint32_t def) const {
  return Has(key) ? GetU32(key) : absl::StatusOr<uint32_t>(def);
}
absl::StatusOr<float> GgufReader::GetF32Or(std::string_view key, float def) const {
  return Has(key) ? GetF32(key) : absl::StatusOr<float>(def);
}
absl::StatusOr<bool> GgufReader::GetBoolOr(std::string_view key, bool def) const {
  return Has(key) ? GetBool(key) : absl::StatusOr<bool>(def);
}

absl::StatusOr<std::span<const std::string_view>> GgufReader::GetStringArray(
    std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (!kv->is_array() || kv->elem_type != GgufType::kString) {
    return TypeError(*kv, "ARRAY[STRING]");
  }
  return std::span<const std::string_view>(kv->strs);
}

namespace {

// Element i of an integer-like array or scalar as int64 (UINT32, INT32, BOOL).
int64_t IntElement(const GgufKV& kv, uint64_t i) {
  switch (kv.elem_type) {
    case GgufType::kUint32: return kv.Get<uint32_t>(i);
    case GgufType::kInt32: return kv.Get<int32_t>(i);
    case GgufType::kBool: return kv.Get<uint8_t>(i) != 0;
    default: SOV_CHECK(false) << "IntElement on " << GgufTypeName(kv.elem_type);
  }
  return 0;
}

// Converts kv (scalar or array) of UINT32/INT32[/BOOL] elements to T, checking
// each value fits. `n` is the number of elements to produce.
template <typename T>
absl::StatusOr<std::vector<T>> IntValues(const GgufKV& kv, uint64_t n, bool allow_bool,
                                         const std::string& file) {
  const GgufType e = kv.elem_type;
  if (e != GgufType::kUint32 && e != GgufType::kInt32 && !(allow_bool && e == GgufType::kBool)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": key '", Av(kv.key), "' has type ", kv.TypeName(),
                     allow_bool ? ", expected UINT32, INT32 or BOOL" : ", expected UINT32 or INT32",
                     kv.is_array() ? " elements" : ""));
  }
  std::vector<T> out(n);
  for (uint64_t i = 0; i < n; ++i) {
    const int64_t v = IntElement(kv, kv.is_array() ? i : 0);
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": key '", Av(kv.key), "' element ", i,
                                                     " = ", v, " is out of range"));
    }
    out[i] = static_cast<T>(v);
  }
  return out;
}

absl::StatusOr<std::vector<float>> FloatValues(const GgufKV& kv, uint64_t n,
                                               const std::string& file) {
  const GgufType e = kv.elem_type;
  if (e != GgufType::kFloat32 && e != GgufType::kInt32) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": key '", Av(kv.key), "' has type ",
                                                   kv.TypeName(), ", expected FLOAT32",
                                                   kv.is_array() ? " elements" : ""));
  }
  std::vector<float> out(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t j = kv.is_array() ? i : 0;
    out[i] = e == GgufType::kFloat32 ? kv.Get<float>(j) : static_cast<float>(kv.Get<int32_t>(j));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<uint32_t>> GgufReader::GetU32Array(std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (!kv->is_array()) return TypeError(*kv, "ARRAY[UINT32]");
  return IntValues<uint32_t>(*kv, kv->count, /*allow_bool=*/false, name_);
}

absl::StatusOr<std::vector<int32_t>> GgufReader::GetI32Array(std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (!kv->is_array()) return TypeError(*kv, "ARRAY[INT32]");
  return IntValues<int32_t>(*kv, kv->count, /*allow_bool=*/false, name_);
}

absl::StatusOr<std::vector<float>> GgufReader::GetF32Array(std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (!kv->is_array()) return TypeError(*kv, "ARRAY[FLOAT32]");
  return FloatValues(*kv, kv->count, name_);
}

absl::StatusOr<std::vector<bool>> GgufReader::GetBoolArray(std::string_view key) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  if (!kv->is_array() || kv->elem_type != GgufType::kBool) return TypeError(*kv, "ARRAY[BOOL]");
  std::vector<bool> out(kv->count);
  for (uint64_t i = 0; i < kv->count; ++i) out[i] = kv->data[i] != 0;
  return out;
}

namespace {

absl::Status CheckLayerCount(const GgufKV& kv, uint32_t n_layer, const std::string& file) {
  if (kv.is_array() && kv.count != n_layer) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": per-layer key '", Av(kv.key), "' has ",
                                                   kv.count, " elements, expected ", n_layer,
                                                   " (one per layer)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<uint32_t>> GgufReader::GetU32PerLayer(std::string_view key,
                                                                 uint32_t n_layer) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  SOV_RETURN_IF_ERROR(CheckLayerCount(*kv, n_layer, name_));
  // llama.cpp's scalar path is strict (UINT32 only); its array path also takes
  // INT32 and BOOL.
  if (!kv->is_array() && kv->type != GgufType::kUint32) return TypeError(*kv, "UINT32 or an array");
  return IntValues<uint32_t>(*kv, n_layer, /*allow_bool=*/true, name_);
}

absl::StatusOr<std::vector<float>> GgufReader::GetF32PerLayer(std::string_view key,
                                                              uint32_t n_layer) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  SOV_RETURN_IF_ERROR(CheckLayerCount(*kv, n_layer, name_));
  if (!kv->is_array() && kv->type != GgufType::kFloat32) {
    return TypeError(*kv, "FLOAT32 or an array");
  }
  return FloatValues(*kv, n_layer, name_);
}

absl::StatusOr<std::vector<bool>> GgufReader::GetBoolPerLayer(std::string_view key,
                                                              uint32_t n_layer) const {
  SOV_ASSIGN_OR_RETURN(const GgufKV* kv, Require(key));
  SOV_RETURN_IF_ERROR(CheckLayerCount(*kv, n_layer, name_));
  if (kv->elem_type != GgufType::kBool) {
    return TypeError(*kv, kv->is_array() ? "ARRAY[BOOL]" : "BOOL or an array");
  }
  std::vector<bool> out(n_layer);
  for (uint32_t i = 0; i < n_layer; ++i) out[i] = kv->data[kv->is_array() ? i : 0] != 0;
  return out;
}

}  // namespace sov
