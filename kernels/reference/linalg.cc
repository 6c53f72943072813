// Reference MatMul and EmbeddingGather: decode each weight row to float32,
// then accumulate in double.
#include <vector>

#include "kernels/reference/reference.h"
#include "kernels/weight_row.h"
#include "runtime/check.h"

namespace sov::kernels::ref {

void MatMul(const float* x, int64_t T, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  SOV_CHECK(ldx >= w.cols && ldy >= w.rows) << "MatMul: row stride smaller than the row width";
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    DecodeRow(w, n, row.data());
    for (int64_t t = 0; t < T; ++t) {
      const float* xt = x + t * ldx;
      double acc = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) acc += static_cast<double>(xt[k]) * row[k];
      y[t * ldy + n] = static_cast<float>(acc);
    }
  }
}

void EmbeddingGather(const WeightView& table, const int32_t* ids, int64_t T, float scale,
                     float* out, int64_t ldo) {
  SOV_CHECK(ldo >= table.cols) << "EmbeddingGather: ldo < cols";
  for (int64_t t = 0; t < T; ++t) {
    SOV_CHECK(ids[t] >= 0 && ids[t] < table.rows) << "EmbeddingGather: id " << ids[t]
                                                  << " out of range [0, " << table.rows << ")";
    float* o = out + t * ldo;
    DecodeRow(table, ids[t], o);
    for (int64_t c = 0; c < table.cols; ++c) o[c] *= scale;
  }
}

}  // namespace sov::kernels::ref
