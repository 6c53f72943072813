// A streaming-read DRAM bandwidth probe: the ceiling a memory-bound decode
// step can reach on this machine, measured in the same process just before a
// benchmark (so it sees the same frequency, NUMA and THP state).
//
//   SOV_ASSIGN_OR_RETURN(double gbps, MeasureReadBandwidth({.threads = 2}));
//
// Each thread sums its contiguous slice of one shared buffer (64-bit adds,
// four independent accumulators so the loop is load-bound, not add-bound);
// a repeat is `passes` sweeps over the whole buffer, timed from the first
// thread's start to the last thread's end. The result is the best repeat, in
// GB/s (1e9 bytes per second), the convention of DRAM data sheets and of the
// benchmark's `gbps` figures.
#ifndef SOV_RUNTIME_BANDWIDTH_PROBE_H_
#define SOV_RUNTIME_BANDWIDTH_PROBE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace sov {

struct BandwidthOptions {
  // Far larger than the last-level cache (Zen 5: 32 MiB per CCD) so the
  // sweeps come from DRAM; 1 GiB also keeps page-walk effects small.
  size_t bytes = size_t{1} << 30;
  int threads = 1;  // >= 1
  int passes = 3;   // sweeps per timed repeat
  int repeats = 3;  // best of
};

// Errors: zero/negative counts, a buffer under 4 KiB, allocation failure.
absl::StatusOr<double> MeasureReadBandwidth(const BandwidthOptions& opt);

}  // namespace sov

#endif  // SOV_RUNTIME_BANDWIDTH_PROBE_H_
