#include "runtime/kv_cache.h"

#include "absl/strings/str_cat.h"
#include "runtime/str_util.h"

namespace sov {

absl::StatusOr<KvCache> KvCache::Create(const std::vector<graph::PlanCache>& caches, int64_t t_max,
                                        int64_t context, DType dtype) {
  if (t_max < 1 || context < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: t_max (", t_max, ") and context (", context, ") must be >= 1"));
  }
  if (dtype != DType::kF32 && dtype != DType::kF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: type ", Av(Name(dtype)), " is not supported (f32 or f16)"));
  }
  KvCache kv;
  kv.context_ = context;
  kv.dtype_ = dtype;
  const size_t elem = dtype == DType::kF16 ? 2 : 4;
  for (const graph::PlanCache& c : caches) {
    Layer l;
    l.rows = graph::KvCacheRows(c, t_max, context);
    l.width = c.row_width();
    const size_t bytes = static_cast<size_t>(l.rows * l.width) * elem;
    absl::StatusOr<AlignedBuffer> k = AlignedBuffer::Allocate(bytes);
    if (!k.ok()) {
      return absl::Status(k.status().code(),
                          absl::StrCat("KV cache of layer ", c.layer, ": ", k.status().message()));
    }
    absl::StatusOr<AlignedBuffer> v = AlignedBuffer::Allocate(bytes);
    if (!v.ok()) {
      return absl::Status(v.status().code(),
                          absl::StrCat("KV cache of layer ", c.layer, ": ", v.status().message()));
    }
    l.k = std::move(*k);
    l.v = std::move(*v);
    kv.layers_.push_back(std::move(l));
  }
  return kv;
}

int64_t KvCache::bytes() const {
  int64_t b = 0;
  for (const Layer& l : layers_) b += static_cast<int64_t>(l.k.size() + l.v.size());
  return b;
}

}  // namespace sov
