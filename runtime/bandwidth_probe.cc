#include "runtime/bandwidth_probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sov {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Four accumulators break the add dependency chain; the compiler turns the
// body into wide vector loads at -O2 and above.
uint64_t SumWords(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// Runs fn(t) on `threads` threads (t = 0 on the caller) and joins them.
template <class Fn>
void OnThreads(int threads, const Fn& fn) {
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) pool.emplace_back([&fn, t] { fn(t); });
  fn(0);
  for (std::thread& th : pool) th.join();
}

}  // namespace

absl::StatusOr<double> MeasureReadBandwidth(const BandwidthOptions& opt) {
  if (opt.threads < 1 || opt.passes < 1 || opt.repeats < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bandwidth probe: threads, passes and repeats must be >= 1 (got ", opt.threads,
                     ", ", opt.passes, ", ", opt.repeats, ")"));
  }
  if (opt.bytes < 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("bandwidth probe: buffer of ", opt.bytes, " bytes is under 4 KiB"));
  }
  const size_t words = opt.bytes / sizeof(uint64_t);
  const size_t alloc = (words * sizeof(uint64_t) + 4095) / 4096 * 4096;
  std::unique_ptr<uint64_t, FreeDeleter> buf(
      static_cast<uint64_t*>(std::aligned_alloc(4096, alloc)));
  if (buf == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("bandwidth probe: cannot allocate ", alloc, " bytes"));
  }
  const int threads = opt.threads;
  // Slices on 4 KiB boundaries; each thread first-touches its own slice so
  // its pages sit on its node (matters on multi-socket machines).
  const size_t words_per_page = 4096 / sizeof(uint64_t);
  const size_t pages = (words + words_per_page - 1) / words_per_page;
  auto slice = [&](int t, size_t* begin, size_t* end) {
    *begin = std::min(words, pages * static_cast<size_t>(t) / threads * words_per_page);
    *end = std::min(words, pages * static_cast<size_t>(t + 1) / threads * words_per_page);
  };
  uint64_t* data = buf.get();
  OnThreads(threads, [&](int t) {
    size_t b, e;
    slice(t, &b, &e);
    for (size_t i = b; i < e; ++i) data[i] = i * 0x9E3779B97F4A7C15ull;
  });

  std::atomic<uint64_t> sink{0};
  double best = 0.0;
  for (int r = 0; r < opt.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    OnThreads(threads, [&](int t) {
      size_t b, e;
      slice(t, &b, &e);
      uint64_t s = 0;
      for (int p = 0; p < opt.passes; ++p) s += SumWords(data + b, e - b);
      sink.fetch_add(s, std::memory_order_relaxed);  // keeps the sums alive
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double bytes = static_cast<double>(words) * sizeof(uint64_t) * opt.passes;
    if (sec > 0.0) best = std::max(best, bytes / sec / 1e9);
  }
  if (!(best > 0.0)) return absl::InternalError("bandwidth probe: timer returned no elapsed time");
  return best;
}

}  // namespace sov
