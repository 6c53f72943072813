#include "runtime/weight_prefetch.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "runtime/str_util.h"

namespace sov {

absl::Status PrefetchGgufTensors(const GgufReader& g, MapPrefetch mode) {
  const uint8_t* lo = nullptr;
  const uint8_t* hi = nullptr;
  for (const GgufTensor& t : g.tensors()) {
    if (t.data == nullptr || t.nbytes == 0) continue;
    lo = lo == nullptr ? t.data : std::min(lo, t.data);
    hi = std::max(hi, t.data + t.nbytes);
  }
  if (lo == nullptr) return absl::OkStatus();
  absl::Status st = PrefetchMapped(lo, static_cast<size_t>(hi - lo), mode);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat(g.name(), ": mmap prefetch (",
                                                Av(MapPrefetchName(mode)), "): ", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace sov
