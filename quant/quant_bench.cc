// Single-thread quantization speed on a Gemma 4 E2B attn_q-sized matrix
// (2048 rows of 1536 values; rows/s is the "items" rate). Callers parallelise
// over rows; quant/ itself is single-threaded and dependency free.
#include <cmath>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "quant/quantize.h"

namespace sov {
namespace {

constexpr int64_t kRows = 2048;
constexpr int64_t kCols = 1536;

void BM_QuantizeRows(benchmark::State& state) {
  const DType t = static_cast<DType>(state.range(0));
  const bool use_imatrix = state.range(1) != 0;
  std::vector<float> x(kRows * kCols), qw(kCols);
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float& v : x) v = g(rng);
  for (float& w : qw) w = std::fabs(g(rng)) * 100.0f;
  std::vector<uint8_t> out(RowBytes(t, kCols) * kRows);
  for (auto _ : state) {
    const absl::Status s = QuantizeRows(t, x.data(), kRows, kCols, use_imatrix ? qw.data() : nullptr, out.data());
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetLabel(std::string(Name(t)) + (use_imatrix ? " imatrix" : ""));
}

BENCHMARK(BM_QuantizeRows)
    ->ArgsProduct({{static_cast<int64_t>(DType::kQ8_0), static_cast<int64_t>(DType::kQ4_K),
                    static_cast<int64_t>(DType::kQ5_K), static_cast<int64_t>(DType::kQ6_K)},
                   {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

void BM_DequantizeRow(benchmark::State& state) {
  const DType t = static_cast<DType>(state.range(0));
  std::vector<float> x(kCols), y(kCols);
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float& v : x) v = g(rng);
  std::vector<uint8_t> q(RowBytes(t, kCols));
  if (!QuantizeRows(t, x.data(), 1, kCols, nullptr, q.data()).ok()) state.SkipWithError("quantize failed");
  for (auto _ : state) {
    DequantizeRow(t, q.data(), y.data(), kCols);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * kCols);
  state.SetLabel(std::string(Name(t)));
}

BENCHMARK(BM_DequantizeRow)
    ->Arg(static_cast<int64_t>(DType::kQ8_0))
    ->Arg(static_cast<int64_t>(DType::kQ4_K))
    ->Arg(static_cast<int64_t>(DType::kQ5_K))
    ->Arg(static_cast<int64_t>(DType::kQ6_K));

}  // namespace
}  // namespace sov

BENCHMARK_MAIN();
