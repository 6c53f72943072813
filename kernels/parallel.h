// Deterministic data-parallel loops on oneTBB.
//
// ParallelFor splits [0, n) into fixed chunks of `grain` items; each chunk is
// processed by exactly one thread and no reduction crosses chunks, so results
// never depend on the thread count. The number of threads is whatever the
// enclosing tbb::task_arena allows (the executor sets it from --threads).
#ifndef SOV_KERNELS_PARALLEL_H_
#define SOV_KERNELS_PARALLEL_H_

#include <cstdint>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

namespace sov::kernels {

template <class Fn>  // Fn(int64_t begin, int64_t end)
void ParallelFor(int64_t n, int64_t grain, const Fn& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    fn(int64_t{0}, n);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                    [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); },
                    tbb::simple_partitioner());
}

}  // namespace sov::kernels

#endif  // SOV_KERNELS_PARALLEL_H_
