// Kernel microbenchmarks on Gemma 4 shapes. Run:
//   build/<dir>/kernels_bench [--threads=N] [--benchmark_filter=MatMul]
// Threads: the default oneTBB arena (all cores). MatMul reports the weight
// bytes streamed per second (`bytes_per_second`), the figure that bounds
// decode speed.
#include <benchmark/benchmark.h>

#include <tbb/global_control.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/api.h"
#include "kernels/test_util.h"
#include "quant/quantize.h"
#include "kernels/weight_row.h"

namespace sov::kernels {
namespace {

// Weights filled with small values without the cost of a full RNG pass over
// hundreds of MB: one random row repeated with a per-row perturbation.
test_util::TestMatrix BenchMatrix(int64_t rows, int64_t cols, DType dtype) {
  const auto base = test_util::RandomFloats(static_cast<size_t>(cols), 1);
  test_util::TestMatrix m;
  const size_t es = dtype == DType::kF32 ? 4 : 2;
  m.view.row_bytes = static_cast<size_t>(cols) * es;
  m.bytes.resize(m.view.row_bytes * static_cast<size_t>(rows));
  std::vector<uint8_t> row(m.view.row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    const float f = 1.0f + 1e-3f * static_cast<float>(r % 97);
    for (int64_t c = 0; c < cols; ++c) {
      const float v = base[c] * f;
      if (dtype == DType::kF32) {
        std::memcpy(&row[c * 4], &v, 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? F32ToBf16(v) : F32ToF16(v);
        std::memcpy(&row[c * 2], &h, 2);
      }
    }
    std::memcpy(m.bytes.data() + r * m.view.row_bytes, row.data(), row.size());
  }
  m.view.data = m.bytes.data();
  m.view.dtype = dtype;
  m.view.rows = rows;
  m.view.cols = cols;
  return m;
}

// Args: rows (out), cols (in), T, dtype id.
void BM_MatMul(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1), T = state.range(2);
  const DType dt = static_cast<DType>(state.range(3));
  const auto m = BenchMatrix(N, K, dt);
  const auto x = test_util::RandomFloats(static_cast<size_t>(T * K), 2);
  std::vector<float> y(static_cast<size_t>(T * N));
  for (auto _ : state) {
    MatMul(x.data(), T, K, m.view, y.data(), N);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(m.bytes.size()));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * N * K * T, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.SetLabel(std::string(Name(dt)));
}

void MatMulShapes(benchmark::internal::Benchmark* b) {
  const int64_t shapes[][2] = {
      {2048, 1536},   {4096, 1536},   {256, 1536},    {512, 1536},  // E2B q (sliding/full), kv
      {1536, 2048},                                                 // E2B o
      {6144, 1536},   {1536, 6144},   {12288, 1536},  {1536, 12288},  // E2B FFN / double-wide
      {10240, 2560},  {2560, 10240},                                  // E4B FFN
      {1408, 2816},   {2816, 704},                                    // 26B expert gate_up / down
      {21504, 5376},  {5376, 21504},                                  // 31B FFN
  };
  for (int dt : {static_cast<int>(DType::kF32), static_cast<int>(DType::kBF16)}) {
    for (int64_t T : {1, 64}) {
      for (const auto& s : shapes) b->Args({s[0], s[1], T, dt});
    }
  }
  // Output head, decode only: vocab 262144 x 1536.
  b->Args({262144, 1536, 1, static_cast<int>(DType::kBF16)});
  b->Args({262144, 1536, 1, static_cast<int>(DType::kF32)});
}
BENCHMARK(BM_MatMul)->Apply(MatMulShapes)->ArgNames({"N", "K", "T", "dtype"})->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Block-quantized weights (dequantized a group of rows at a time into f32).
// Args: rows, cols, T, dtype id.
void BM_MatMulQuant(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1), T = state.range(2);
  const DType dt = static_cast<DType>(state.range(3));
  const auto f = BenchMatrix(N, K, DType::kF32);
  std::vector<uint8_t> bytes(RowBytes(dt, K) * N);
  const absl::Status s = QuantizeRows(dt, reinterpret_cast<const float*>(f.bytes.data()), N, K,
                                      nullptr, bytes.data());
  if (!s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  const WeightView w{bytes.data(), dt, N, K, RowBytes(dt, K)};
  const auto x = test_util::RandomFloats(static_cast<size_t>(T * K), 2);
  std::vector<float> y(static_cast<size_t>(T * N));
  for (auto _ : state) {
    MatMul(x.data(), T, K, w, y.data(), N);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
  state.SetLabel(std::string(Name(dt)));
}
BENCHMARK(BM_MatMulQuant)
    ->ArgNames({"N", "K", "T", "dtype"})
    ->Args({2048, 1536, 1, static_cast<int>(DType::kQ8_0)})
    ->Args({2048, 1536, 1, static_cast<int>(DType::kQ4_K)})
    ->Args({2048, 1536, 1, static_cast<int>(DType::kQ6_K)})
    ->Args({6144, 1536, 1, static_cast<int>(DType::kQ4_K)})
    ->Args({2048, 1536, 64, static_cast<int>(DType::kQ4_K)})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: T, keys visible at the last query (pos0 + T), window, head_dim, nq, nkv.
// Last argument: 0 = f32 cache (Attention), 1 = fp16 cache with llama.cpp's
// rounding (AttentionF16, the "llama.cpp" numerics).
void BM_Attention(benchmark::State& state) {
  const int64_t T = state.range(0), end = state.range(1), W = state.range(2), d = state.range(3),
                nq = state.range(4), nkv = state.range(5);
  const bool f16 = state.range(6) != 0;
  AttentionParams p;
  p.T = T;
  p.pos0 = end - T;
  p.n_q_heads = nq;
  p.n_kv_heads = nkv;
  p.head_dim = d;
  p.window = W;
  p.cache_rows = W > 0 ? W - 1 + T : end;
  p.ld_kv = nkv * d;
  const auto k = test_util::RandomFloats(static_cast<size_t>(p.cache_rows * p.ld_kv), 3);
  const auto v = test_util::RandomFloats(k.size(), 4);
  const auto q = test_util::RandomFloats(static_cast<size_t>(T * nq * d), 5, -0.1f, 0.1f);
  p.k_cache = k.data();
  p.v_cache = v.data();
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  KvAppendF16(k.data(), p.ld_kv, v.data(), p.ld_kv, p.cache_rows, 0, k16.data(), v16.data(),
              p.cache_rows, p.ld_kv, p.ld_kv);
  p.k_cache_f16 = k16.data();
  p.v_cache_f16 = v16.data();
  std::vector<float> out(static_cast<size_t>(T * nq * d));
  for (auto _ : state) {
    if (f16) {
      AttentionF16(p, q.data(), nq * d, out.data(), nq * d);
    } else {
      Attention(p, q.data(), nq * d, out.data(), nq * d);
    }
    benchmark::DoNotOptimize(out.data());
  }
  int64_t pairs = 0;  // (query, key) pairs per head
  for (int64_t t = 0; t < T; ++t) {
    const int64_t qp = p.pos0 + t;
    pairs += qp - (W > 0 ? std::max<int64_t>(0, qp - W + 1) : 0) + 1;
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * pairs * nq * d,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Attention)
    ->ArgNames({"T", "end", "W", "d", "nq", "nkv", "f16"})
    ->ArgsProduct({{1}, {4096}, {0}, {512}, {8}, {1}, {0, 1}})      // E2B full layer, decode at 4K
    ->ArgsProduct({{1}, {4096}, {512}, {256}, {8}, {1}, {0, 1}})    // E2B sliding layer, decode
    ->ArgsProduct({{1}, {4096}, {0}, {512}, {16}, {4}, {0, 1}})     // 31B-like full layer (GQA 4)
    ->ArgsProduct({{128}, {128}, {512}, {256}, {8}, {1}, {0, 1}})   // E2B sliding prefill, 128 tokens
    ->ArgsProduct({{128}, {4096}, {512}, {256}, {8}, {1}, {0, 1}})  // sliding chunk deep in a prompt
    ->ArgsProduct({{128}, {4096}, {0}, {512}, {8}, {1}, {0, 1}})    // full-layer prefill chunk at 4K
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_RMSNorm(benchmark::State& state) {
  const int64_t T = state.range(0), H = state.range(1);
  const auto x = test_util::RandomFloats(static_cast<size_t>(T * H), 6);
  const auto w = test_util::RandomFloats(static_cast<size_t>(H), 7);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    RMSNorm(x.data(), T, H, H, w.data(), 1e-6f, y.data(), H);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * T * H * 8);
}
BENCHMARK(BM_RMSNorm)->ArgNames({"T", "H"})->Args({1, 1536})->Args({64, 1536})->Args({1, 5376})
    ->Args({64, 5376})->Args({512, 256})->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_GeluTanhMul(benchmark::State& state) {
  const int64_t T = state.range(0), I = state.range(1);
  const auto g = test_util::RandomFloats(static_cast<size_t>(T * I), 8);
  const auto u = test_util::RandomFloats(g.size(), 9);
  std::vector<float> o(g.size());
  for (auto _ : state) {
    GeluTanhMul(g.data(), I, u.data(), I, T, I, o.data(), I);
    benchmark::DoNotOptimize(o.data());
  }
  state.SetItemsProcessed(state.iterations() * T * I);
}
BENCHMARK(BM_GeluTanhMul)->ArgNames({"T", "I"})->Args({1, 6144})->Args({64, 6144})->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_GeluTanhMulF16Table(benchmark::State& state) {
  const int64_t T = state.range(0), I = state.range(1);
  const auto g = test_util::RandomFloats(static_cast<size_t>(T * I), 8);
  const auto u = test_util::RandomFloats(g.size(), 9);
  std::vector<float> o(g.size());
  for (auto _ : state) {
    GeluTanhMulF16Table(g.data(), I, u.data(), I, T, I, o.data(), I);
    benchmark::DoNotOptimize(o.data());
  }
  state.SetItemsProcessed(state.iterations() * T * I);
}
BENCHMARK(BM_GeluTanhMulF16Table)->ArgNames({"T", "I"})->Args({1, 6144})->Args({64, 6144})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Softcap(benchmark::State& state) {
  auto x = test_util::RandomFloats(262144, 10, -30, 30);
  const auto x0 = x;
  for (auto _ : state) {
    Softcap(x.data(), 262144, 30.0f);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * 262144);
}
BENCHMARK(BM_Softcap)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sov::kernels

// --threads=N (ours, removed before Google Benchmark parses the rest) caps
// the oneTBB worker count; default: all cores.
int main(int argc, char** argv) {
  int threads = 0;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0) {
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  threads);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
