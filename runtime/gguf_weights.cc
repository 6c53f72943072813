#include "runtime/gguf_weights.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "quant/dtype.h"
#include "quant/quantize.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

std::string ShapeStr(std::span<const int64_t> s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

}  // namespace

std::vector<int64_t> GgufTorchShape(const GgufTensor& t) {
  std::vector<int64_t> s;
  for (int i = t.n_dims - 1; i >= 0; --i) s.push_back(t.ne[i]);
  return s;
}

absl::StatusOr<const GgufTensor*> GgufWeights::Find(std::string_view name,
                                                    std::span<const int64_t> shape) const {
  const GgufTensor* t = reader_->FindTensor(name);
  if (t == nullptr)
    return absl::NotFoundError(
        absl::StrCat(reader_->name(), ": missing tensor ", Av(name), " required by the model"));
  // Compare with trailing 1-dims of the file ignored (writers may keep or drop them).
  std::vector<int64_t> have = GgufTorchShape(*t);
  while (have.size() > shape.size() && have.front() == 1) have.erase(have.begin());
  if (!std::equal(have.begin(), have.end(), shape.begin(), shape.end()))
    return absl::InvalidArgumentError(absl::StrCat(reader_->name(), ": tensor ", Av(name),
                                                   " has shape ", ShapeStr(have),
                                                   ", the model config needs ", ShapeStr(shape)));
  if (!t->dtype.has_value() || !CanDequantize(*t->dtype))
    return absl::UnimplementedError(absl::StrCat(reader_->name(), ": tensor ", Av(name),
                                                 " has ggml type ", t->type,
                                                 ", which Sovereign cannot read"));
  return t;
}

absl::Status GgufWeights::AddMatrix(std::string_view name, std::span<const int64_t> shape) {
  if (shape.size() != 2)
    return absl::InvalidArgumentError(absl::StrCat("AddMatrix(", Av(name), "): shape must be 2-D"));
  absl::StatusOr<const GgufTensor*> t = Find(name, shape);
  if (!t.ok()) return t.status();
  kernels::WeightView v;
  v.data = (*t)->data;
  v.dtype = *(*t)->dtype;
  v.rows = shape[0];
  v.cols = shape[1];
  v.row_bytes = RowBytes(v.dtype, shape[1]);
  matrices_.insert_or_assign(std::string(name), v);
  return absl::OkStatus();
}

absl::Status GgufWeights::AddVector(std::string_view name, int64_t n) {
  const int64_t shape[1] = {n};
  absl::StatusOr<const GgufTensor*> t = Find(name, shape);
  if (!t.ok()) return t.status();
  std::vector<float> f(static_cast<size_t>(n));
  DequantizeRow(*(*t)->dtype, (*t)->data, f.data(), n);
  vectors_.insert_or_assign(std::string(name), std::move(f));
  return absl::OkStatus();
}

absl::StatusOr<kernels::WeightView> GgufWeights::Matrix(std::string_view name) const {
  auto it = matrices_.find(name);
  if (it == matrices_.end())
    return absl::NotFoundError(absl::StrCat(reader_->name(), ": no matrix ", Av(name)));
  return it->second;
}

absl::StatusOr<std::span<const float>> GgufWeights::Vector(std::string_view name) const {
  auto it = vectors_.find(name);
  if (it == vectors_.end())
    return absl::NotFoundError(absl::StrCat(reader_->name(), ": no vector ", Av(name)));
  return std::span<const float>(it->second);
}

absl::StatusOr<std::vector<kernels::WeightView>> GgufWeights::MatrixStack(
    std::string_view name) const {
  return absl::NotFoundError(
      absl::StrCat(reader_->name(), ": no expert bank ", Av(name), " (not used by this model)"));
}

}  // namespace sov
