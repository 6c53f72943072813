// Non-owning view of a tensor in memory (a mapped checkpoint, an arena, an
// owned buffer). Shapes are row-major in PyTorch order: shape[0] is the
// slowest-varying dimension, so a Linear weight is [out, in].
#ifndef SOV_RUNTIME_TENSOR_H_
#define SOV_RUNTIME_TENSOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/api.h"
#include "quant/dtype.h"
#include "runtime/check.h"
#include "runtime/str_util.h"

namespace sov {

inline constexpr int kMaxTensorDims = 4;

// "[64,72]" — the spelling used in every shape error message.
inline std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int ndim = 0;  // 0 is a scalar (one element)
  std::array<int64_t, kMaxTensorDims> shape = {0, 0, 0, 0};

  // Builds a view; SOV_CHECKs the rank (callers validate user shapes first).
  static TensorView Make(const void* data, DType dtype, std::span<const int64_t> dims) {
    SOV_CHECK(dims.size() <= kMaxTensorDims) << "rank " << dims.size();
    TensorView v;
    v.data = data;
    v.dtype = dtype;
    v.ndim = static_cast<int>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) v.shape[i] = dims[i];
    return v;
  }
  static TensorView Make(const void* data, DType dtype, std::initializer_list<int64_t> dims) {
    return Make(data, dtype, std::span<const int64_t>(dims.begin(), dims.size()));
  }

  std::span<const int64_t> dims() const { return {shape.data(), static_cast<size_t>(ndim)}; }
  int64_t dim(int i) const {
    SOV_CHECK(i >= 0 && i < ndim) << "dim " << i << " of rank " << ndim;
    return shape[i];
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  // Quantized types: the innermost dimension is a whole number of blocks.
  size_t row_bytes() const { return RowBytes(dtype, ndim == 0 ? 1 : shape[ndim - 1]); }
  size_t nbytes() const {
    if (ndim == 0) return RowBytes(dtype, 1);
    return row_bytes() * static_cast<size_t>(numel() / shape[ndim - 1]);
  }
  std::string ShapeStr() const { return ShapeString(dims()); }

  bool HasShape(std::span<const int64_t> expected) const {
    if (expected.size() != static_cast<size_t>(ndim)) return false;
    for (int i = 0; i < ndim; ++i) {
      if (shape[i] != expected[i]) return false;
    }
    return true;
  }

  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }

  // Sub-tensor `i` along dimension 0 (e.g. one expert of [E, 2I, H]).
  TensorView Slice0(int64_t i) const {
    SOV_CHECK(ndim >= 1 && i >= 0 && i < shape[0]) << "slice " << i << " of " << ShapeStr();
    TensorView v;
    v.dtype = dtype;
    v.ndim = ndim - 1;
    for (int d = 1; d < ndim; ++d) v.shape[d - 1] = shape[d];
    v.data = static_cast<const uint8_t*>(data) + static_cast<size_t>(i) * v.nbytes();
    return v;
  }

  // The view as a kernel weight matrix [rows, cols]; SOV_CHECKs rank 2.
  kernels::WeightView AsMatrix() const {
    SOV_CHECK(ndim == 2) << "AsMatrix on shape " << ShapeStr();
    kernels::WeightView w;
    w.data = data;
    w.dtype = dtype;
    w.rows = shape[0];
    w.cols = shape[1];
    w.row_bytes = row_bytes();
    return w;
  }
};

// Checked variant for tensors that came from a user's file: `name` appears in
// the error.
inline absl::StatusOr<kernels::WeightView> AsWeightView(const TensorView& t,
                                                        std::string_view name) {
  if (t.ndim != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", Av(name), " has shape ", t.ShapeStr(), ", expected a 2-D matrix"));
  }
  if (t.shape[1] % BlockSize(t.dtype) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", Av(name), " of type ", Av(Name(t.dtype)), " has ", t.shape[1],
                     " columns, not a multiple of the block size ", BlockSize(t.dtype)));
  }
  return t.AsMatrix();
}

}  // namespace sov

#endif  // SOV_RUNTIME_TENSOR_H_
