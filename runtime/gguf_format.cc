#include "runtime/gguf_format.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

// ggml.c type_traits (ggml mirror d99724f2, GGML_TYPE_COUNT = 43). Removed ids
// are simply absent.
constexpr std::array<GgmlTypeTraits, 35> kGgmlTypes = {{
    {0, "f32", 1, 4},        {1, "f16", 1, 2},         {2, "q4_0", 32, 18},
    {3, "q4_1", 32, 20},     {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},
    {8, "q8_0", 32, 34},     {9, "q8_1", 32, 36},      {10, "q2_K", 256, 84},
    {11, "q3_K", 256, 110},  {12, "q4_K", 256, 144},   {13, "q5_K", 256, 176},
    {14, "q6_K", 256, 210},  {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66},
    {17, "iq2_xs", 256, 74}, {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},
    {20, "iq4_nl", 32, 18},  {21, "iq3_s", 256, 110},  {22, "iq2_s", 256, 82},
    {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},        {25, "i16", 1, 2},
    {26, "i32", 1, 4},       {27, "i64", 1, 8},        {28, "f64", 1, 8},
    {29, "iq1_m", 256, 56},  {30, "bf16", 1, 2},       {34, "tq1_0", 256, 54},
    {35, "tq2_0", 256, 66},  {39, "mxfp4", 32, 17},    {40, "nvfp4", 64, 36},
    {41, "q1_0", 128, 18},   {42, "q2_0", 64, 18},
}};

}  // namespace

bool IsValidGgufType(int32_t id) { return id >= 0 && id <= 12; }

std::string GgufTypeName(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "UINT8";
    case GgufType::kInt8: return "INT8";
    case GgufType::kUint16: return "UINT16";
    case GgufType::kInt16: return "INT16";
    case GgufType::kUint32: return "UINT32";
    case GgufType::kInt32: return "INT32";
    case GgufType::kFloat32: return "FLOAT32";
    case GgufType::kBool: return "BOOL";
    case GgufType::kString: return "STRING";
    case GgufType::kArray: return "ARRAY";
    case GgufType::kUint64: return "UINT64";
    case GgufType::kInt64: return "INT64";
    case GgufType::kFloat64: return "FLOAT64";
  }
  return absl::StrCat("TYPE#", static_cast<int32_t>(t));
}

uint64_t GgufScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

const GgmlTypeTraits* FindGgmlType(int32_t id) {
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string GgmlTypeName(int32_t id) {
  const GgmlTypeTraits* t = FindGgmlType(id);
  return t ? std::string(t->name) : absl::StrCat("type#", id);
}

absl::StatusOr<uint64_t> GgmlTensorBytes(int32_t type, std::span<const int64_t> ne) {
  const GgmlTypeTraits* t = FindGgmlType(type);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown or removed ggml tensor type ", type));
  }
  if (ne.size() > static_cast<size_t>(kGgufMaxDims)) {
    return absl::InvalidArgumentError(
        absl::StrCat("n_dims ", ne.size(), " exceeds the maximum of ", kGgufMaxDims));
  }
  int64_t elements = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("ne[", i, "] = ", ne[i], " is negative"));
    }
    if (__builtin_mul_overflow(elements, ne[i], &elements)) {
      return absl::InvalidArgumentError(
          absl::StrCat("element count overflows int64 at ne[", i, "] = ", ne[i]));
    }
  }
  const int64_t ne0 = ne.empty() ? 1 : ne[0];
  if (ne0 % t->block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("ne[0] = ", ne0, " is not a multiple of the ",
                                                   Av(t->name), " block size ", t->block_size));
  }
  // Rows of whole blocks; the element count did not overflow, so neither does
  // the block count, but the byte count can (type_size > block_size).
  int64_t bytes = (ne0 / t->block_size);
  if (__builtin_mul_overflow(bytes, t->type_size, &bytes)) {
    return absl::InvalidArgumentError("tensor byte size overflows int64");
  }
  for (size_t i = 1; i < ne.size(); ++i) {
    if (__builtin_mul_overflow(bytes, ne[i], &bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor byte size overflows int64 at ne[", i, "] = ", ne[i]));
    }
  }
  return static_cast<uint64_t>(bytes);
}

}  // namespace sov
