// WeightProvider: how lowering turns the symbolic weight names of a Graph
// into kernel views. Implemented by the runtime over a loaded checkpoint
// (GGUF / safetensors) and by tests over std::vectors. The graph layer never
// opens files.
#ifndef SOV_GRAPH_WEIGHT_PROVIDER_H_
#define SOV_GRAPH_WEIGHT_PROVIDER_H_

#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/api.h"

namespace sov::graph {

class WeightProvider {
 public:
  virtual ~WeightProvider() = default;

  // A 2-D matrix [rows, cols] in PyTorch Linear layout; NotFound if missing.
  // The view must stay valid for the provider's lifetime.
  virtual absl::StatusOr<kernels::WeightView> Matrix(std::string_view name) const = 0;

  // A 1-D tensor as float32 (norm weights, scalars, per-expert scales). The
  // provider converts bf16/f16 storage and owns the floats.
  virtual absl::StatusOr<std::span<const float>> Vector(std::string_view name) const = 0;

  // A 3-D tensor [E, rows, cols] as E matrix views (MoE expert banks).
  virtual absl::StatusOr<std::vector<kernels::WeightView>> MatrixStack(
      std::string_view name) const = 0;
};

}  // namespace sov::graph

#endif  // SOV_GRAPH_WEIGHT_PROVIDER_H_
