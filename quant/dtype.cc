#include "quant/dtype.h"

#include <array>
#include <cctype>

#include "runtime/check.h"

namespace sov {
namespace {

constexpr std::array<DTypeInfo, 17> kTable = {{
    {DType::kF32, "f32", 1, 4, false},
    {DType::kF16, "f16", 1, 2, false},
    {DType::kQ4_0, "q4_0", 32, 18, true},
    {DType::kQ4_1, "q4_1", 32, 20, true},
    {DType::kQ5_0, "q5_0", 32, 22, true},
    {DType::kQ5_1, "q5_1", 32, 24, true},
    {DType::kQ8_0, "q8_0", 32, 34, true},
    {DType::kQ4_K, "q4_K", 256, 144, true},
    {DType::kQ5_K, "q5_K", 256, 176, true},
    {DType::kQ6_K, "q6_K", 256, 210, true},
    {DType::kQ8_K, "q8_K", 256, 292, true},
    {DType::kI8, "i8", 1, 1, false},
    {DType::kI16, "i16", 1, 2, false},
    {DType::kI32, "i32", 1, 4, false},
    {DType::kI64, "i64", 1, 8, false},
    {DType::kF64, "f64", 1, 8, false},
    {DType::kBF16, "bf16", 1, 2, false},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::optional<DTypeInfo> LookupDType(int32_t ggml_id) {
  for (const DTypeInfo& i : kTable) {
    if (static_cast<int32_t>(i.type) == ggml_id) return i;
  }
  return std::nullopt;
}

const DTypeInfo& Info(DType t) {
  for (const DTypeInfo& i : kTable) {
    if (i.type == t) return i;
  }
  SOV_CHECK(false) << "unknown DType " << static_cast<int>(t);
  return kTable[0];
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& i : kTable) {
    if (EqualsIgnoreCase(i.name, name)) return i.type;
  }
  return std::nullopt;
}

}  // namespace sov
