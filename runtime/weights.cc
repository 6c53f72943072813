#include "runtime/weights.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "quant/float16.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

bool IsFloatWeight(const SafetensorsTensor& t) {
  return t.dtype == DType::kF32 || t.dtype == DType::kBF16 || t.dtype == DType::kF16;
}

bool ShapeMatches(const std::vector<int64_t>& have, std::span<const int64_t> want) {
  if (have.size() == want.size()) return std::equal(have.begin(), have.end(), want.begin());
  // A 0-d scalar and a [1] vector hold the same single value.
  return have.empty() && want.size() == 1 && want[0] == 1;
}

}  // namespace

absl::StatusOr<WeightStore> WeightStore::Open(const std::string& path) {
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(path);
  if (!r.ok()) return r.status();
  return WeightStore(*std::move(r));
}

absl::StatusOr<const SafetensorsTensor*> WeightStore::Checked(std::string_view name,
                                                              std::span<const int64_t> expected) {
  absl::StatusOr<const SafetensorsTensor*> t = reader_.Lookup(name);
  if (!t.ok()) return t.status();
  const SafetensorsTensor& s = **t;
  if (!ShapeMatches(s.shape, expected)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Av(name), " has shape ",
                                                   ShapeString(s.shape), ", expected ",
                                                   ShapeString(expected)));
  }
  if (!IsFloatWeight(s)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Av(name), " has dtype ", s.dtype_name,
                                                   ", expected F32, BF16 or F16"));
  }
  used_.insert(std::string(name));
  return &s;
}

absl::StatusOr<const float*> WeightStore::F32Copy(std::string_view name,
                                                  std::span<const int64_t> expected) {
  absl::StatusOr<const SafetensorsTensor*> t = Checked(name, expected);
  if (!t.ok()) return t.status();
  if (auto it = f32_copies_.find(name); it != f32_copies_.end()) {
    return it->second.as<float>();
  }
  const SafetensorsTensor& s = **t;
  const size_t n = static_cast<size_t>(s.numel());
  absl::StatusOr<AlignedBuffer> buf = AlignedBuffer::Allocate(n * sizeof(float));
  if (!buf.ok()) return buf.status();
  float* out = buf->as<float>();
  // memcpy per element: the stored bytes need not be aligned.
  switch (*s.dtype) {
    case DType::kF32:
      std::memcpy(out, s.data, n * sizeof(float));
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s.data + 2 * i, 2);
        out[i] = Bf16ToFp32(h);
      }
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s.data + 2 * i, 2);
        out[i] = Fp16ToFp32(h);
      }
      break;
    default:
      SOV_CHECK(false) << "Checked() admits only float types";
  }
  auto [it, inserted] = f32_copies_.emplace(std::string(name), *std::move(buf));
  return it->second.as<float>();
}

absl::StatusOr<TensorView> WeightStore::Tensor(std::string_view name,
                                               std::span<const int64_t> expected) {
  if (expected.size() > static_cast<size_t>(kMaxTensorDims)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Av(name), ": expected rank ",
                                                   expected.size(), " exceeds ", kMaxTensorDims));
  }
  absl::StatusOr<const SafetensorsTensor*> t = Checked(name, expected);
  if (!t.ok()) return t.status();
  const SafetensorsTensor& s = **t;
  const void* data = s.data;
  if (reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(s.element_size) != 0) {
    auto it = aligned_copies_.find(name);
    if (it == aligned_copies_.end()) {
      absl::StatusOr<AlignedBuffer> buf = AlignedBuffer::Allocate(s.nbytes);
      if (!buf.ok()) return buf.status();
      std::memcpy(buf->data(), s.data, s.nbytes);
      it = aligned_copies_.emplace(std::string(name), *std::move(buf)).first;
    }
    data = it->second.data();
  }
  return TensorView::Make(data, *s.dtype, expected);
}

absl::StatusOr<kernels::WeightView> WeightStore::Matrix(std::string_view name, int64_t rows,
                                                        int64_t cols) {
  const int64_t shape[2] = {rows, cols};
  absl::StatusOr<TensorView> t = Tensor(name, shape);
  if (!t.ok()) return t.status();
  return t->AsMatrix();
}

std::vector<std::string> WeightStore::UnusedNames() const {
  std::vector<std::string> out;
  for (const std::string& n : reader_.names()) {
    if (!used_.contains(n)) out.push_back(n);
  }
  return out;
}

}  // namespace sov
