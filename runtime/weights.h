// Weight access for the loader: shape-checked, typed views of the tensors in
// a set of safetensors files.
//
//  * Small 1-D float tensors (norm weights, `layer_scalar`, router scales) are
//    returned as f32 copies in owned, 64-byte aligned buffers: every kernel
//    takes norm weights as f32, and they are tiny.
//  * Matrices are returned zero-copy as kernels::WeightView in the stored
//    F32/BF16/F16 layout, pointing into the file mapping. A tensor whose
//    bytes are not aligned to its element size (possible in a hand-made file)
//    is copied once into an aligned buffer instead, because the kernels load
//    whole elements.
//
// Expected shapes come from the model's tensor table; a mismatch is an error
// naming the tensor, e.g.
//   tensor model.layers.3.self_attn.q_proj.weight has shape [64,72], expected [128,72]
// Not thread-safe: the loader fills its tables from one thread.
#ifndef SOV_RUNTIME_WEIGHTS_H_
#define SOV_RUNTIME_WEIGHTS_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/api.h"
#include "runtime/arena.h"
#include "runtime/safetensors.h"
#include "runtime/tensor.h"

namespace sov {

class WeightStore {
 public:
  // `path` as for SafetensorsReader::Open (file, index, or model directory).
  static absl::StatusOr<WeightStore> Open(const std::string& path);
  explicit WeightStore(SafetensorsReader reader) : reader_(std::move(reader)) {}

  WeightStore(WeightStore&&) = default;
  WeightStore& operator=(WeightStore&&) = default;

  const SafetensorsReader& reader() const { return reader_; }
  bool Has(std::string_view name) const { return reader_.Has(name); }

  // f32 copy of an F32/BF16/F16 tensor of exactly `expected` shape (a scalar
  // [] also matches an expected [1]). The pointer is 64-byte aligned and
  // lives as long as the store; asking again returns the same copy.
  absl::StatusOr<const float*> F32Copy(std::string_view name, std::span<const int64_t> expected);
  absl::StatusOr<const float*> F32Copy(std::string_view name,
                                       std::initializer_list<int64_t> expected) {
    return F32Copy(name, std::span<const int64_t>(expected.begin(), expected.size()));
  }
  // A 1-D vector of n floats.
  absl::StatusOr<const float*> Vector(std::string_view name, int64_t n) {
    return F32Copy(name, {n});
  }

  // Zero-copy view of an F32/BF16/F16 matrix of shape [rows, cols].
  absl::StatusOr<kernels::WeightView> Matrix(std::string_view name, int64_t rows, int64_t cols);

  // View of an F32/BF16/F16 tensor of any rank <= 4 with exactly `expected`
  // shape (expert stacks [E, 2I, H]; use TensorView::Slice0 per expert).
  absl::StatusOr<TensorView> Tensor(std::string_view name, std::span<const int64_t> expected);
  absl::StatusOr<TensorView> Tensor(std::string_view name,
                                    std::initializer_list<int64_t> expected) {
    return Tensor(name, std::span<const int64_t>(expected.begin(), expected.size()));
  }

  // Sorted names never requested. Released E2B/E4B files carry k_proj/v_proj/
  // k_norm on KV-shared layers that no forward pass reads (spec gemma4.md §6
  // pitfall 23), so leftovers are information for the loader, not an error.
  std::vector<std::string> UnusedNames() const;

 private:
  // Looks `name` up, checks the shape and that the dtype is F32/BF16/F16.
  absl::StatusOr<const SafetensorsTensor*> Checked(std::string_view name,
                                                   std::span<const int64_t> expected);

  SafetensorsReader reader_;
  std::map<std::string, AlignedBuffer, std::less<>> f32_copies_;
  std::map<std::string, AlignedBuffer, std::less<>> aligned_copies_;
  std::set<std::string, std::less<>> used_;
};

}  // namespace sov

#endif  // SOV_RUNTIME_WEIGHTS_H_
