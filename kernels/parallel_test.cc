// ParallelFor hands its callback the same chunks for every thread count: the
// leaves of halving [0, n) down to <= grain items, which is what a
// tbb::blocked_range with that grain splits into.
#include "kernels/parallel.h"

#include <tbb/task_arena.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace sov::kernels {
namespace {

using Chunks = std::vector<std::pair<int64_t, int64_t>>;

Chunks Sorted(Chunks c) {
  std::sort(c.begin(), c.end());
  return c;
}

// oneTBB's own splitting, one chunk per task.
Chunks TbbChunks(int64_t n, int64_t grain) {
  Chunks out;
  std::mutex mu;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, grain),
      [&](const tbb::blocked_range<int64_t>& r) {
        std::lock_guard<std::mutex> lock(mu);
        out.push_back({r.begin(), r.end()});
      },
      tbb::simple_partitioner());
  return Sorted(out);
}

Chunks OurChunks(int64_t n, int64_t grain, int threads) {
  Chunks out;
  std::mutex mu;
  tbb::task_arena arena(threads);
  arena.execute([&] {
    ParallelFor(n, grain, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      out.push_back({b, e});
    });
  });
  return Sorted(out);
}

TEST(ParallelForTest, ChunksAreTheBlockedRangeLeavesForEveryThreadCount) {
  for (int64_t n : {1, 2, 7, 31, 32, 33, 100, 1000, 2048, 4097, 65536, 262144}) {
    for (int64_t grain : {1, 3, 4, 32, 100}) {
      if (n / grain > 70000) continue;  // keep the oracle's task count small
      const Chunks expect = n <= grain ? Chunks{{0, n}} : TbbChunks(n, grain);
      for (int threads : {1, 2, 3, 8}) {
        const Chunks got = OurChunks(n, grain, threads);
        ASSERT_EQ(got, expect) << "n " << n << " grain " << grain << " threads " << threads;
        // Every index exactly once, every chunk within the grain.
        int64_t at = 0;
        for (const auto& [b, e] : got) {
          EXPECT_EQ(b, at);
          EXPECT_GT(e, b);
          EXPECT_LE(e - b, grain);
          at = e;
        }
        EXPECT_EQ(at, n);
      }
    }
  }
}

TEST(ParallelForTest, EmptyAndBadGrain) {
  int calls = 0;
  ParallelFor(0, 4, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(OurChunks(5, 0, 2), OurChunks(5, 1, 2));  // grain < 1 acts as 1
}

}  // namespace
}  // namespace sov::kernels
