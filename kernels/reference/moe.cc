// Reference MoE router tail and expert bank.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/reference/reference.h"
#include "kernels/weight_row.h"
#include "runtime/check.h"

namespace sov::kernels::ref {

void MoeRoute(const float* logits, int64_t T, int64_t E, int64_t k, const float* per_expert_scale,
              int32_t* idx, float* w) {
  SOV_CHECK(k >= 1 && k <= E) << "MoeRoute: k = " << k << " with " << E << " experts";
  std::vector<double> p(static_cast<size_t>(E));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float* l = logits + t * E;
    const double m = *std::max_element(l, l + E);
    double sum = 0.0;
    for (int64_t e = 0; e < E; ++e) sum += (p[e] = std::exp(static_cast<double>(l[e]) - m));
    for (int64_t e = 0; e < E; ++e) p[e] /= sum;
    // softmax is monotonic, so ranking the logits ranks the probabilities;
    // the stable sort keeps equal values in ascending expert id.
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    double sel = 0.0;
    for (int64_t j = 0; j < k; ++j) sel += p[order[j]];
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = order[j];
      double wj = p[e] / sel;
      if (per_expert_scale) wj *= per_expert_scale[e];
      idx[t * k + j] = e;
      w[t * k + j] = static_cast<float>(wj);
    }
  }
}

int64_t MoeExpertsScratchFloats(const ExpertBank& bank, int64_t T, int64_t k) { return 0; }

void MoeExperts(const ExpertBank& bank, const float* x, int64_t T, int64_t ldx,
                const int32_t* idx, const float* w, int64_t k, float* out, int64_t ldo,
                float* scratch) {
  const int64_t H = bank.hidden, I = bank.intermediate;
  std::vector<float> row(static_cast<size_t>(std::max(H, I)));
  std::vector<double> act(static_cast<size_t>(I)), acc(static_cast<size_t>(H));
  std::vector<float> actf(static_cast<size_t>(I));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * ldx;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = idx[t * k + j];
      SOV_CHECK(e >= 0 && e < bank.n_experts) << "MoeExperts: expert id " << e << " out of range";
      const WeightView& gu = bank.gate_up[e];
      const WeightView& dn = bank.down[e];
      SOV_CHECK(gu.rows == 2 * I && gu.cols == H && dn.rows == H && dn.cols == I)
          << "MoeExperts: expert " << e << " has the wrong shape";
      for (int64_t i = 0; i < I; ++i) {
        double g = 0.0, u = 0.0;
        DecodeRow(gu, i, row.data());
        for (int64_t c = 0; c < H; ++c) g += static_cast<double>(xt[c]) * row[c];
        DecodeRow(gu, I + i, row.data());
        for (int64_t c = 0; c < H; ++c) u += static_cast<double>(xt[c]) * row[c];
        act[i] = GeluTanh(g) * u;
      }
      for (int64_t c = 0; c < H; ++c) {
        DecodeRow(dn, c, row.data());
        double y = 0.0;
        for (int64_t i = 0; i < I; ++i) y += act[i] * row[i];
        acc[c] += static_cast<double>(w[t * k + j]) * y;
      }
    }
    for (int64_t c = 0; c < H; ++c) out[t * ldo + c] = static_cast<float>(acc[c]);
  }
}

}  // namespace sov::kernels::ref
