#include "runtime/gguf_reader.h"

#include <bit>
#include <cstring>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/str_util.h"

namespace sov {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader maps little-endian files without byte swapping");

// The smallest encodings, used to bound counts by the file size before any
// allocation: a KV pair is a non-empty key (8+1), a type (4) and at least one
// value byte; a tensor info is a name (8), n_dims (4), a type (4), an offset (8).
constexpr uint64_t kMinKVBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;

// Reads the file front to back; every read is bounds-checked against the
// file size, and every count is checked before it sizes anything.
class GgufParser {
 public:
  explicit GgufParser(GgufReader* r) : r_(r), base_(r->base_), size_(r->size_) {}

  absl::Status Run() {
    SOV_RETURN_IF_ERROR(ParseHeader());
    r_->kvs_.reserve(n_kv_);
    for (uint64_t i = 0; i < n_kv_; ++i) SOV_RETURN_IF_ERROR(ParseKV(i));
    SOV_RETURN_IF_ERROR(CheckAlignment());
    r_->tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) SOV_RETURN_IF_ERROR(ParseTensorInfo(i));
    return PlaceData();
  }

 private:
  absl::Status Error(uint64_t offset, std::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(r_->name_, ": ", Av(msg), " (at offset ", offset, ")"));
  }

  // Ensures `n` more bytes exist; `what` says what was being read.
  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n > size_ - pos_) {
      return Error(pos_, absl::StrCat("unexpected end of file reading ", Av(what), ": need ", n,
                                      " bytes, ", size_ - pos_, " left of ", size_));
    }
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Read(T* out, std::string_view what) {
    SOV_RETURN_IF_ERROR(Need(sizeof(T), what));
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  // `what` names the string in an error; it is only formatted on failure, as
  // this runs once per token of a 262k-entry vocabulary.
  absl::Status ReadString(std::string_view* out, absl::FunctionRef<std::string()> what) {
    const uint64_t at = pos_;
    uint64_t len;
    if (sizeof(len) > size_ - pos_) return Need(sizeof(len), absl::StrCat(what(), " length"));
    std::memcpy(&len, base_ + pos_, sizeof(len));
    pos_ += sizeof(len);
    if (len > kGgufMaxStringBytes) {
      return Error(at, absl::StrCat(what(), " length ", len, " exceeds the 1 GiB limit"));
    }
    if (len > size_ - pos_) {
      return Error(at, absl::StrCat(what(), " of ", len, " bytes runs past the end of file (",
                                    size_ - pos_, " bytes left)"));
    }
    *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

  absl::Status ParseHeader() {
    if (size_ < 4 || std::memcmp(base_, "GGUF", 4) != 0) {
      std::string got;
      for (uint64_t i = 0; i < 4 && i < size_; ++i) {
        absl::StrAppend(&got, i ? " " : "", absl::Hex(base_[i], absl::kZeroPad2));
      }
      if (size_ < 4) {
        return Error(0, absl::StrCat("not a GGUF file: bad magic, only ", size_, " bytes"));
      }
      return Error(0, absl::StrCat("not a GGUF file: bad magic [", got,
                                   "], expected [47 47 55 46] (\"GGUF\")"));
    }
    pos_ = 4;
    SOV_RETURN_IF_ERROR(Read(&r_->version_, "version"));
    const uint32_t v = r_->version_;
    if ((v & 0xFFFF) == 0 && v != 0) {
      return Error(4, absl::StrCat("GGUF version field 0x", absl::Hex(v, absl::kZeroPad8),
                                   " looks byte-swapped: big-endian files are not supported"));
    }
    if (v == 1) return Error(4, "GGUF version 1 (32-bit counts) is obsolete and not supported");
    if (v != 2 && v != 3) {
      return Error(4, absl::StrCat("unsupported GGUF version ", v, " (supported: 2, 3)"));
    }
    int64_t n_tensors, n_kv;
    SOV_RETURN_IF_ERROR(Read(&n_tensors, "tensor count"));
    SOV_RETURN_IF_ERROR(Read(&n_kv, "metadata kv count"));
    const uint64_t rest = size_ - kHeaderBytes;
    if (n_tensors < 0) return Error(8, absl::StrCat("tensor count ", n_tensors, " is negative"));
    if (n_kv < 0) return Error(16, absl::StrCat("metadata kv count ", n_kv, " is negative"));
    n_tensors_ = static_cast<uint64_t>(n_tensors);
    n_kv_ = static_cast<uint64_t>(n_kv);
    // Both bounds hold separately, so the sum below cannot overflow.
    if (n_tensors_ > rest / kMinTensorInfoBytes || n_kv_ > rest / kMinKVBytes ||
        n_tensors_ * kMinTensorInfoBytes + n_kv_ * kMinKVBytes > rest) {
      return Error(8, absl::StrCat("tensor count ", n_tensors_, " and metadata kv count ", n_kv_,
                                   " cannot fit in a file of ", size_, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseKV(uint64_t index) {
    GgufKV kv;
    kv.offset = pos_;
    SOV_RETURN_IF_ERROR(
        ReadString(&kv.key, [&] { return absl::StrCat("key of metadata pair ", index); }));
    if (kv.key.empty()) return Error(kv.offset, absl::StrCat("metadata pair ", index, " has an empty key"));
    if (r_->kv_index_.count(kv.key)) {
      return Error(kv.offset, absl::StrCat("duplicate key '", Av(kv.key), "'"));
    }
    const std::string ctx = absl::StrCat("key '", Av(kv.key), "'");
    const uint64_t type_at = pos_;
    int32_t type;
    SOV_RETURN_IF_ERROR(Read(&type, absl::StrCat(ctx, " value type")));
    if (!IsValidGgufType(type)) {
      return Error(type_at, absl::StrCat(ctx, " has unknown value type ", type));
    }
    kv.type = kv.elem_type = static_cast<GgufType>(type);
    if (kv.type == GgufType::kArray) {
      SOV_RETURN_IF_ERROR(ParseArray(&kv, ctx));
    } else if (kv.type == GgufType::kString) {
      SOV_RETURN_IF_ERROR(ReadString(&kv.str, [&] { return absl::StrCat(ctx, " string value"); }));
    } else {
      const uint64_t n = GgufScalarSize(kv.type);
      SOV_RETURN_IF_ERROR(Need(n, absl::StrCat(ctx, " ", GgufTypeName(kv.type), " value")));
      kv.data = base_ + pos_;
      pos_ += n;
    }
    r_->kv_index_.emplace(kv.key, r_->kvs_.size());
    r_->kvs_.push_back(std::move(kv));
    return absl::OkStatus();
  }

  absl::Status ParseArray(GgufKV* kv, const std::string& ctx) {
    const uint64_t at = pos_;
    int32_t elem;
    SOV_RETURN_IF_ERROR(Read(&elem, absl::StrCat(ctx, " array element type")));
    if (!IsValidGgufType(elem)) {
      return Error(at, absl::StrCat(ctx, " has unknown array element type ", elem));
    }
    if (elem == static_cast<int32_t>(GgufType::kArray)) {
      return Error(at, absl::StrCat(ctx, " is a nested array (array of arrays), not supported"));
    }
    kv->elem_type = static_cast<GgufType>(elem);
    SOV_RETURN_IF_ERROR(Read(&kv->count, absl::StrCat(ctx, " array length")));
    if (kv->count > kGgufMaxArrayElements) {
      return Error(at + 4, absl::StrCat(ctx, " array length ", kv->count,
                                        " exceeds the limit of 2^30 elements"));
    }
    if (kv->elem_type != GgufType::kString) {
      // count <= 2^30 and size <= 8: no overflow.
      const uint64_t bytes = kv->count * GgufScalarSize(kv->elem_type);
      SOV_RETURN_IF_ERROR(Need(bytes, absl::StrCat(ctx, " array of ", kv->count, " ",
                                                   GgufTypeName(kv->elem_type))));
      kv->data = base_ + pos_;
      pos_ += bytes;
      return absl::OkStatus();
    }
    // Every string needs at least its 8-byte length: bound before reserving.
    SOV_RETURN_IF_ERROR(Need(kv->count * 8, absl::StrCat(ctx, " array of ", kv->count, " strings")));
    kv->strs.reserve(kv->count);
    for (uint64_t i = 0; i < kv->count; ++i) {
      std::string_view s;
      SOV_RETURN_IF_ERROR(ReadString(&s, [&] { return absl::StrCat(ctx, " element ", i); }));
      kv->strs.push_back(s);
    }
    return absl::OkStatus();
  }

  absl::Status CheckAlignment() {
    const GgufKV* kv = r_->FindKV(kGgufAlignmentKey);
    if (kv == nullptr) return absl::OkStatus();
    if (kv->type != GgufType::kUint32) {
      return Error(kv->offset, absl::StrCat("key '", Av(kGgufAlignmentKey), "' has type ", kv->TypeName(),
                                            ", expected UINT32"));
    }
    const uint32_t a = kv->Get<uint32_t>();
    if (!IsPowerOfTwo(a)) {
      return Error(kv->offset, absl::StrCat("key '", Av(kGgufAlignmentKey), "' = ", a,
                                            " is not a non-zero power of two"));
    }
    r_->alignment_ = a;
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfo(uint64_t index) {
    GgufTensor t;
    t.info_offset = pos_;
    SOV_RETURN_IF_ERROR(
        ReadString(&t.name, [&] { return absl::StrCat("name of tensor ", index); }));
    if (t.name.size() > kGgufMaxTensorName) {
      return Error(t.info_offset, absl::StrCat("tensor ", index, " name '", Av(t.name.substr(0, 80)),
                                               "' is ", t.name.size(), " bytes; names must be < 64"));
    }
    if (r_->tensor_index_.count(t.name)) {
      return Error(t.info_offset, absl::StrCat("duplicate tensor name '", Av(t.name), "'"));
    }
    const std::string ctx = absl::StrCat("tensor '", Av(t.name), "'");
    const uint64_t dims_at = pos_;
    uint32_t n_dims;
    SOV_RETURN_IF_ERROR(Read(&n_dims, absl::StrCat(ctx, " n_dims")));
    if (n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
      return Error(dims_at, absl::StrCat(ctx, " has n_dims ", n_dims, " > ", kGgufMaxDims));
    }
    t.n_dims = static_cast<int>(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      SOV_RETURN_IF_ERROR(Read(&t.ne[d], absl::StrCat(ctx, " ne[", d, "]")));
    }
    const uint64_t type_at = pos_;
    SOV_RETURN_IF_ERROR(Read(&t.type, absl::StrCat(ctx, " type")));
    auto nbytes = GgmlTensorBytes(t.type, std::span<const int64_t>(t.ne.data(), n_dims));
    if (!nbytes.ok()) return Error(type_at, absl::StrCat(ctx, ": ", nbytes.status().message()));
    t.nbytes = *nbytes;
    if (auto info = LookupDType(t.type)) t.dtype = info->type;
    const uint64_t offset_at = pos_;
    SOV_RETURN_IF_ERROR(Read(&t.offset, absl::StrCat(ctx, " offset")));
    // ggml insists on the exact running sum: no gaps, overlap or reordering.
    if (t.offset != next_offset_) {
      return Error(offset_at, absl::StrCat(ctx, " has data offset ", t.offset, ", expected ",
                                           next_offset_, " (the running sum of sizes padded to ",
                                           r_->alignment_, ")"));
    }
    uint64_t padded;
    if (!GgufPadChecked(t.nbytes, r_->alignment_, &padded) ||
        __builtin_add_overflow(next_offset_, padded, &next_offset_)) {
      return Error(offset_at, absl::StrCat(ctx, " data end overflows 64 bits"));
    }
    r_->tensor_index_.emplace(t.name, r_->tensors_.size());
    r_->tensors_.push_back(t);
    return absl::OkStatus();
  }

  absl::Status PlaceData() {
    if (!GgufPadChecked(pos_, r_->alignment_, &r_->data_offset_)) {
      return Error(pos_, "data section offset overflows");
    }
    for (GgufTensor& t : r_->tensors_) {
      uint64_t begin, end;
      if (__builtin_add_overflow(r_->data_offset_, t.offset, &begin) ||
          __builtin_add_overflow(begin, t.nbytes, &end) || end > size_) {
        return Error(t.info_offset,
                     absl::StrCat("tensor '", Av(t.name), "' data (", t.nbytes, " bytes at offset ",
                                  t.offset, " in the data section starting at ",
                                  r_->data_offset_, ") runs past the end of file (", size_,
                                  " bytes)"));
      }
      t.data = base_ + begin;
    }
    return absl::OkStatus();
  }

  GgufReader* r_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t next_offset_ = 0;
};

std::string GgufKV::TypeName() const {
  if (!is_array()) return GgufTypeName(type);
  return absl::StrCat("ARRAY[", GgufTypeName(elem_type), "]");
}

absl::StatusOr<std::unique_ptr<GgufReader>> GgufReader::Open(const std::string& path) {
  std::unique_ptr<GgufReader> r(new GgufReader());
  SOV_ASSIGN_OR_RETURN(r->file_, MappedFile::Open(path));
  r->name_ = path;
  r->base_ = r->file_.data();
  r->size_ = r->file_.size();
  SOV_RETURN_IF_ERROR(r->Parse());
  return r;
}

absl::StatusOr<std::unique_ptr<GgufReader>> GgufReader::FromBytes(std::string_view bytes,
                                                                  std::string name) {
  std::unique_ptr<GgufReader> r(new GgufReader());
  r->name_ = std::move(name);
  r->size_ = bytes.size();
  r->owned_.reset(new uint8_t[bytes.size()]);
  if (!bytes.empty()) std::memcpy(r->owned_.get(), bytes.data(), bytes.size());
  r->base_ = r->owned_.get();
  SOV_RETURN_IF_ERROR(r->Parse());
  return r;
}

GgufReader::~GgufReader() = default;

absl::Status GgufReader::Parse() { return GgufParser(this).Run(); }

const GgufKV* GgufReader::FindKV(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufTensor* GgufReader::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<const GgufTensor*> GgufReader::GetTensor(std::string_view name) const {
  const GgufTensor* t = FindTensor(name);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat(name_, ": tensor '", Av(name), "' not found"));
  }
  return t;
}

}  // namespace sov
