// Pieces shared by the per-architecture tensor tables (models/<arch>/tensor_table.cc).
#ifndef SOV_MODELS_TENSOR_TABLE_UTIL_H_
#define SOV_MODELS_TENSOR_TABLE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "runtime/check.h"

namespace sov::models {

// `pattern` with "{L}" replaced by the layer index ("blk.{L}.attn_q.weight").
inline std::string SubstituteLayer(std::string_view pattern, int64_t layer) {
  return absl::StrReplaceAll(absl::string_view(pattern.data(), pattern.size()),
                             {{"{L}", absl::StrCat(layer)}});
}

// A table indexed by its enum: one row per id, in id order, `n_ids` rows.
// Checked once per table (a programming error, so SOV_CHECK).
template <class Row>
const std::vector<Row>& CheckDenseTable(const std::vector<Row>& t, size_t n_ids) {
  SOV_CHECK(t.size() == n_ids) << "tensor table incomplete";
  for (size_t i = 0; i < t.size(); ++i)
    SOV_CHECK(static_cast<size_t>(t[i].id) == i) << "tensor table out of order at " << i;
  return t;
}

}  // namespace sov::models

#endif  // SOV_MODELS_TENSOR_TABLE_UTIL_H_
