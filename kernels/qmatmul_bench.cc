// Integer-dot-product MatMul (Q4_K/Q5_K/Q6_K/Q8_0) on Gemma 4 E2B shapes, the
// dequantize-to-f32 path for comparison, and a streaming-read probe so the
// achieved/probe bandwidth ratio comes from one run on the same (shared) machine.
//   build/<dir>/qmatmul_bench [--benchmark_filter=...]
// bytes_per_second = weight bytes per second (the decode bound at T = 1);
// GFLOP/s counts 2 N K T.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/api.h"
#include "kernels/parallel.h"
#include "kernels/test_util.h"
#include "quant/quantize.h"

namespace sov::kernels {
namespace {

// 64 distinct quantized rows tiled over N rows (quantizing 400M floats for the
// head would take longer than the benchmark).
std::vector<uint8_t> BenchWeights(DType t, int64_t N, int64_t K) {
  constexpr int64_t kDistinct = 64;
  const auto vals = test_util::RandomFloats(static_cast<size_t>(kDistinct * K), 1);
  const size_t rb = RowBytes(t, K);
  std::vector<uint8_t> base(rb * kDistinct);
  if (!QuantizeRows(t, vals.data(), kDistinct, K, nullptr, base.data()).ok()) return {};
  std::vector<uint8_t> out(rb * static_cast<size_t>(N));
  for (int64_t r = 0; r < N; ++r)
    std::memcpy(out.data() + rb * r, base.data() + rb * (r % kDistinct), rb);
  return out;
}

// Args: N, K, T, dtype id, mode (0 integer, 1 dequantize-to-f32).
void BM_QMatMul(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1), T = state.range(2);
  const DType dt = static_cast<DType>(state.range(3));
  const auto mode = state.range(4) ? QuantMatMulMode::kDequantF32 : QuantMatMulMode::kInteger;
  const std::vector<uint8_t> bytes = BenchWeights(dt, N, K);
  if (bytes.empty()) {
    state.SkipWithError("quantization failed");
    return;
  }
  const WeightView w{bytes.data(), dt, N, K, RowBytes(dt, K)};
  const auto x = test_util::RandomFloats(static_cast<size_t>(T * K), 2);
  std::vector<float> y(static_cast<size_t>(T * N));
  SetQuantMatMulMode(mode);
  for (auto _ : state) {
    MatMul(x.data(), T, K, w, y.data(), N);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetQuantMatMulMode(QuantMatMulMode::kInteger);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * N * K * T, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(std::string(Name(dt)) + (state.range(4) ? " f32" : " int"));
}

void Shapes(benchmark::internal::Benchmark* b) {
  const int64_t shapes[][2] = {
      {2048, 1536}, {6144, 1536}, {1536, 6144}, {12288, 1536}, {262144, 1536}};
  const DType types[] = {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_0};
  for (DType t : types) {
    for (const auto& s : shapes) b->Args({s[0], s[1], 1, static_cast<int>(t), 0});
    b->Args({6144, 1536, 1, static_cast<int>(t), 1});  // the f32 path, for the speed-up
  }
  for (DType t : types) {
    for (int64_t T : {64, 512}) b->Args({6144, 1536, T, static_cast<int>(t), 0});
  }
  // Prefill (pp512) on every E2B projection shape: q/o, the FFN up/gate/down
  // at both FFN widths (E2B's double-wide layers use 12288).
  const int64_t prefill[][2] = {{2048, 1536}, {1536, 2048},  {6144, 1536},
                                {1536, 6144}, {12288, 1536}, {1536, 12288}};
  for (DType t : types) {
    for (const auto& s : prefill) {
      if (s[0] == 6144 && s[1] == 1536) continue;  // already above
      b->Args({s[0], s[1], 512, static_cast<int>(t), 0});
    }
  }
  // Few tokens (short prompts, speculative chunks): where the panel GEMM's
  // unpacking is least amortized (T = 4 is below kQGemmMinTokens: row dots).
  for (DType t : types) {
    for (int64_t T : {4, 8, 16, 32}) b->Args({2048, 1536, T, static_cast<int>(t), 0});
  }
  // Gemma 3 270M's Q5_0 projections (llama.cpp's Q4_K_M falls back to Q5_0
  // for rows of 640): gate/up [640 -> 2048] and the transposed shape, integer
  // and dequantize-to-f32 modes in one run.
  const int64_t gemma3[][2] = {{2048, 640}, {640, 2048}};
  for (const auto& s : gemma3) {
    for (int64_t T : {1, 128}) {
      for (int f32 : {0, 1}) b->Args({s[0], s[1], T, static_cast<int>(DType::kQ5_0), f32});
    }
  }
}
BENCHMARK(BM_QMatMul)
    ->Apply(Shapes)
    ->ArgNames({"N", "K", "T", "dtype", "f32"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Streaming-read probe: sum of 64-bit words over a buffer far larger than the
// caches, split over threads like MatMul's rows. The DRAM read bound.
void BM_StreamRead(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  std::vector<uint64_t> buf(bytes / 8, 1);
  const int64_t chunks = static_cast<int64_t>(bytes >> 16);  // 64 KiB
  std::vector<uint64_t> sums(chunks);
  for (auto _ : state) {
    ParallelFor(chunks, 64, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const uint64_t* p = buf.data() + (c << 13);
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int i = 0; i < 8192; i += 4) {
          s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
        }
        sums[c] = s0 + s1 + s2 + s3;
      }
    });
    benchmark::DoNotOptimize(sums.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_StreamRead)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sov::kernels

BENCHMARK_MAIN();
