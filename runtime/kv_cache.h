// KV cache storage for the executor: per OWNING layer one K and one V buffer
// of rows of n_kv_heads * head_dim values, float32 or fp16 (DType::kF16: the
// "llama.cpp" numerics, runtime/numerics.h). Sliding-window layers
// are ring buffers of window - 1 + t_max rows (position p lives in row
// p % rows, kernels::AttentionParams); full-attention layers hold the whole
// context. KV-shared layers own nothing: their plan steps already point at
// the donor's cache index (graph/passes/kv_share.cc).
#ifndef SOV_RUNTIME_KV_CACHE_H_
#define SOV_RUNTIME_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/plan.h"
#include "quant/dtype.h"
#include "runtime/arena.h"

namespace sov {

class KvCache {
 public:
  // `t_max`: the largest step (prefill bucket) any plan will run; `context`:
  // the most positions a sequence may reach.
  static absl::StatusOr<KvCache> Create(const std::vector<graph::PlanCache>& caches, int64_t t_max,
                                        int64_t context, DType dtype = DType::kF32);

  KvCache() = default;
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;

  int64_t size() const { return static_cast<int64_t>(layers_.size()); }
  DType dtype() const { return dtype_; }
  // Float accessors: only for an F32 cache; k16/v16 only for an F16 cache.
  float* k(int32_t i) { return layers_[i].k.as<float>(); }
  float* v(int32_t i) { return layers_[i].v.as<float>(); }
  const float* k(int32_t i) const { return layers_[i].k.as<float>(); }
  const float* v(int32_t i) const { return layers_[i].v.as<float>(); }
  uint16_t* k16(int32_t i) { return layers_[i].k.as<uint16_t>(); }
  uint16_t* v16(int32_t i) { return layers_[i].v.as<uint16_t>(); }
  int64_t rows(int32_t i) const { return layers_[i].rows; }
  int64_t row_width(int32_t i) const { return layers_[i].width; }
  int64_t context() const { return context_; }
  int64_t bytes() const;

 private:
  struct Layer {
    AlignedBuffer k, v;
    int64_t rows = 0;
    int64_t width = 0;
  };
  std::vector<Layer> layers_;
  int64_t context_ = 0;
  DType dtype_ = DType::kF32;
};

}  // namespace sov

#endif  // SOV_RUNTIME_KV_CACHE_H_
