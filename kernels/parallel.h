// Deterministic data-parallel loops on oneTBB.
//
// ParallelFor splits [0, n) into fixed chunks of at most `grain` items; each
// chunk is processed by exactly one thread and no reduction crosses chunks, so
// results never depend on the thread count. The number of threads is whatever
// the enclosing tbb::task_arena allows (the executor sets it from --threads).
//
// The chunks are the leaves of halving [0, n) until a piece holds <= grain
// items (what tbb::blocked_range's splitting produces), whatever the thread
// count. oneTBB only sees coarse pieces, each a subtree of that halving whose
// leaves one task walks in order: a task per chunk cost ~0.2 us each, which on
// a 262144-row LM head (8192 chunks of 32 rows) was over a millisecond of a
// decode step; ~16 pieces per thread keep the load balanced.
#ifndef SOV_KERNELS_PARALLEL_H_
#define SOV_KERNELS_PARALLEL_H_

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <cstdint>

namespace sov::kernels {

namespace parallel_internal {

inline constexpr int64_t kPiecesPerThread = 16;

// Calls fn on the leaves of halving [b, e) down to <= grain items, in order.
template <class Fn>
void Leaves(int64_t b, int64_t e, int64_t grain, const Fn& fn) {
  while (e - b > grain) {
    const int64_t mid = b + (e - b) / 2;
    Leaves(b, mid, grain, fn);
    b = mid;
  }
  fn(b, e);
}

}  // namespace parallel_internal

template <class Fn>  // Fn(int64_t begin, int64_t end)
void ParallelFor(int64_t n, int64_t grain, const Fn& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    fn(int64_t{0}, n);
    return;
  }
  // blocked_range halves exactly as Leaves does, so a piece (a range it stops
  // splitting at <= coarse) is a node of the same tree for any coarse >= grain
  // and its leaves are exactly the chunks above.
  const int64_t pieces =
      parallel_internal::kPiecesPerThread * tbb::this_task_arena::max_concurrency();
  int64_t coarse = grain;
  while (coarse < n && n / coarse > pieces) coarse *= 2;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, coarse),
      [&](const tbb::blocked_range<int64_t>& r) {
        parallel_internal::Leaves(r.begin(), r.end(), grain, fn);
      },
      tbb::simple_partitioner());
}

}  // namespace sov::kernels

#endif  // SOV_KERNELS_PARALLEL_H_
