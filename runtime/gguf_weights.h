// A graph::WeightProvider over the tensors of a mapped GGUF file, keyed by
// their GGUF names (the graph's weight vocabulary), for any architecture whose
// tensor table gives the expected PyTorch-order shapes.
//
//   GgufWeights w(*reader);
//   SOV_RETURN_IF_ERROR(w.AddMatrix("blk.0.attn_q.weight", {1024, 640}));
//   SOV_RETURN_IF_ERROR(w.AddVector("blk.0.attn_norm.weight", 640));
//
// Matrices stay zero-copy views into the mapping in any type the kernels
// read (F32, F16, BF16, Q8_0, Q4_K, Q5_K, Q6_K, Q4_0/1, Q5_0/1); vectors are
// dequantized to owned f32 copies. Add* checks presence, shape and type, with
// errors naming the file and the tensor; lookups of names never added are
// NotFound. The reader must outlive this object.
#ifndef SOV_RUNTIME_GGUF_WEIGHTS_H_
#define SOV_RUNTIME_GGUF_WEIGHTS_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/weight_provider.h"
#include "runtime/gguf_reader.h"

namespace sov {

// A GGUF tensor's shape in PyTorch order (ne reversed, trailing 1s dropped
// down to n_dims).
std::vector<int64_t> GgufTorchShape(const GgufTensor& t);

class GgufWeights : public graph::WeightProvider {
 public:
  explicit GgufWeights(const GgufReader& reader) : reader_(&reader) {}

  // Registers tensor `name`, which must be [shape[0], shape[1]] (rows, cols).
  absl::Status AddMatrix(std::string_view name, std::span<const int64_t> shape);
  // Registers 1-D tensor `name` of `n` elements as f32.
  absl::Status AddVector(std::string_view name, int64_t n);

  absl::StatusOr<kernels::WeightView> Matrix(std::string_view name) const override;
  absl::StatusOr<std::span<const float>> Vector(std::string_view name) const override;
  absl::StatusOr<std::vector<kernels::WeightView>> MatrixStack(
      std::string_view name) const override;

 private:
  absl::StatusOr<const GgufTensor*> Find(std::string_view name,
                                         std::span<const int64_t> shape) const;

  const GgufReader* reader_;
  std::map<std::string, kernels::WeightView, std::less<>> matrices_;
  std::map<std::string, std::vector<float>, std::less<>> vectors_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_GGUF_WEIGHTS_H_
