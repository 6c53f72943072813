// Bringing a mapped GGUF's tensor data into memory before the first forward
// pass, so that no kernel takes a disk read inside a timed step (a cold
// embedding row is a synchronous page-cache miss: milliseconds per token).
#ifndef SOV_RUNTIME_WEIGHT_PREFETCH_H_
#define SOV_RUNTIME_WEIGHT_PREFETCH_H_

#include "absl/status/status.h"
#include "runtime/gguf_reader.h"
#include "runtime/mapped_file.h"

namespace sov {

// Applies `mode` (runtime/mapped_file.h) to the bytes spanned by the file's
// tensors (the data section; the header was read while parsing). On a reader
// built from bytes (GgufReader::FromBytes) the range is ordinary memory and
// the advice is harmless.
absl::Status PrefetchGgufTensors(const GgufReader& g, MapPrefetch mode);

}  // namespace sov

#endif  // SOV_RUNTIME_WEIGHT_PREFETCH_H_
