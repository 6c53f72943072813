#include "runtime/gguf_writer.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/str_util.h"
#include "runtime/gguf_reader.h"

namespace sov {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer emits host-order values as little-endian");

namespace {

template <typename T>
void Append(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
std::string Encoded(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

void AppendString(std::string* out, std::string_view s) {
  Append<uint64_t>(out, s.size());
  out->append(s);
}

class StringSink : public GgufSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  absl::Status Write(const void* data, size_t n) override {
    out_->append(static_cast<const char*>(data), n);
    return absl::OkStatus();
  }

 private:
  std::string* out_;
};

class FileSink : public GgufSink {
 public:
  FileSink(FILE* f, const std::string& path) : f_(f), path_(path) {}
  absl::Status Write(const void* data, size_t n) override {
    if (n != 0 && std::fwrite(data, 1, n, f_) != n) {
      return absl::InternalError(absl::StrCat("write to '", path_, "' failed: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

 private:
  FILE* f_;
  const std::string& path_;
};

// Passes a callback's bytes through and holds it to the tensor's size, so a
// wrong callback cannot shift every later tensor.
class CountingSink : public GgufSink {
 public:
  CountingSink(GgufSink& out, const GgufTensorSpec& t) : out_(out), t_(t) {}
  absl::Status Write(const void* data, size_t n) override {
    if (n > t_.nbytes - written_) {
      return absl::InvalidArgumentError(absl::StrCat("data callback for tensor '", t_.name,
                                                     "' wrote more than its ", t_.nbytes,
                                                     " bytes"));
    }
    written_ += n;
    return out_.Write(data, n);
  }
  uint64_t written() const { return written_; }

 private:
  GgufSink& out_;
  const GgufTensorSpec& t_;
  uint64_t written_ = 0;
};

absl::Status WriteZeros(GgufSink& out, uint64_t n) {
  static constexpr char kZeros[256] = {};
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, sizeof(kZeros));
    SOV_RETURN_IF_ERROR(out.Write(kZeros, k));
    n -= k;
  }
  return absl::OkStatus();
}

}  // namespace

void GgufWriter::Put(std::string_view key, GgufType type, std::string value, uint64_t array_count,
                     uint64_t longest_string) {
  Remove(key);
  kvs_.push_back(Entry{std::string(key), type, std::move(value), array_count, longest_string});
}

bool GgufWriter::Remove(std::string_view key) {
  auto it = std::find_if(kvs_.begin(), kvs_.end(), [&](const Entry& e) { return e.key == key; });
  if (it == kvs_.end()) return false;
  kvs_.erase(it);
  return true;
}

bool GgufWriter::Has(std::string_view key) const {
  return std::any_of(kvs_.begin(), kvs_.end(), [&](const Entry& e) { return e.key == key; });
}

void GgufWriter::SetU8(std::string_view key, uint8_t v) { Put(key, GgufType::kUint8, Encoded(v)); }
void GgufWriter::SetI8(std::string_view key, int8_t v) { Put(key, GgufType::kInt8, Encoded(v)); }
void GgufWriter::SetU16(std::string_view key, uint16_t v) { Put(key, GgufType::kUint16, Encoded(v)); }
void GgufWriter::SetI16(std::string_view key, int16_t v) { Put(key, GgufType::kInt16, Encoded(v)); }
void GgufWriter::SetU32(std::string_view key, uint32_t v) { Put(key, GgufType::kUint32, Encoded(v)); }
void GgufWriter::SetI32(std::string_view key, int32_t v) { Put(key, GgufType::kInt32, Encoded(v)); }
void GgufWriter::SetU64(std::string_view key, uint64_t v) { Put(key, GgufType::kUint64, Encoded(v)); }
void GgufWriter::SetI64(std::string_view key, int64_t v) { Put(key, GgufType::kInt64, Encoded(v)); }
void GgufWriter::SetF32(std::string_view key, float v) { Put(key, GgufType::kFloat32, Encoded(v)); }
void GgufWriter::SetF64(std::string_view key, double v) { Put(key, GgufType::kFloat64, Encoded(v)); }

void GgufWriter::SetBool(std::string_view key, bool v) {
  Put(key, GgufType::kBool, std::string(1, v ? '\1' : '\0'));
}

void GgufWriter::SetString(std::string_view key, std::string_view v) {
  std::string s;
  AppendString(&s, v);
  Put(key, GgufType::kString, std::move(s), 0, v.size());
}

void GgufWriter::SetArray(std::string_view key, GgufType elem, const void* data, uint64_t count) {
  const uint64_t size = GgufScalarSize(elem);
  SOV_CHECK(size != 0) << "SetArray needs a numeric element type, got " << GgufTypeName(elem);
  std::string s;
  Append<int32_t>(&s, static_cast<int32_t>(elem));
  Append<uint64_t>(&s, count);
  s.append(static_cast<const char*>(data), count * size);
  Put(key, GgufType::kArray, std::move(s), count);
}

void GgufWriter::SetU8Array(std::string_view key, std::span<const uint8_t> v) {
  SetArray(key, GgufType::kUint8, v.data(), v.size());
}
void GgufWriter::SetI8Array(std::string_view key, std::span<const int8_t> v) {
  SetArray(key, GgufType::kInt8, v.data(), v.size());
}
void GgufWriter::SetU32Array(std::string_view key, std::span<const uint32_t> v) {
  SetArray(key, GgufType::kUint32, v.data(), v.size());
}
void GgufWriter::SetI32Array(std::string_view key, std::span<const int32_t> v) {
  SetArray(key, GgufType::kInt32, v.data(), v.size());
}
void GgufWriter::SetF32Array(std::string_view key, std::span<const float> v) {
  SetArray(key, GgufType::kFloat32, v.data(), v.size());
}
void GgufWriter::SetBoolArray(std::string_view key, const std::vector<bool>& v) {
  std::vector<uint8_t> bytes(v.begin(), v.end());
  SetArray(key, GgufType::kBool, bytes.data(), bytes.size());
}

void GgufWriter::SetStringArray(std::string_view key, std::span<const std::string> v) {
  std::vector<std::string_view> views(v.begin(), v.end());
  SetStringArray(key, std::span<const std::string_view>(views));
}

void GgufWriter::SetStringArray(std::string_view key, std::span<const std::string_view> v) {
  std::string s;
  Append<int32_t>(&s, static_cast<int32_t>(GgufType::kString));
  Append<uint64_t>(&s, v.size());
  uint64_t longest = 0;
  for (std::string_view e : v) {
    AppendString(&s, e);
    longest = std::max<uint64_t>(longest, e.size());
  }
  Put(key, GgufType::kArray, std::move(s), v.size(), longest);
}

void GgufWriter::CopyKV(const GgufKV& kv) {
  if (kv.type == GgufType::kString) {
    SetString(kv.key, kv.str);
  } else if (!kv.is_array()) {
    Put(kv.key, kv.type, std::string(reinterpret_cast<const char*>(kv.data), GgufScalarSize(kv.type)));
  } else if (kv.elem_type == GgufType::kString) {
    SetStringArray(kv.key, std::span<const std::string_view>(kv.strs));
  } else {
    SetArray(kv.key, kv.elem_type, kv.data, kv.count);
  }
}

absl::Status GgufWriter::AddTensor(std::string_view name, int32_t ggml_type,
                                   std::span<const int64_t> ne) {
  if (name.size() > kGgufMaxTensorName) {
    return absl::InvalidArgumentError(absl::StrCat("tensor name '", Av(name), "' is ", name.size(),
                                                   " bytes; names must be < 64"));
  }
  for (const GgufTensorSpec& t : tensors_) {
    if (t.name == name) return absl::InvalidArgumentError(absl::StrCat("duplicate tensor '", Av(name), "'"));
  }
  if (ne.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", Av(name), "' has no dimensions"));
  }
  auto nbytes = GgmlTensorBytes(ggml_type, ne);
  if (!nbytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", Av(name), "': ", nbytes.status().message()));
  }
  GgufTensorSpec t;
  t.name = std::string(name);
  t.type = ggml_type;
  std::copy(ne.begin(), ne.end(), t.ne.begin());
  // ggml_n_dims: trailing extents of 1 are not written.
  t.n_dims = static_cast<int>(ne.size());
  while (t.n_dims > 1 && t.ne[t.n_dims - 1] == 1) --t.n_dims;
  t.nbytes = *nbytes;
  tensors_.push_back(std::move(t));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> GgufWriter::Alignment() const {
  for (const Entry& e : kvs_) {
    if (e.key != kGgufAlignmentKey) continue;
    if (e.type != GgufType::kUint32) {
      return absl::InvalidArgumentError(absl::StrCat("key '", Av(kGgufAlignmentKey), "' has type ",
                                                     GgufTypeName(e.type), ", must be UINT32"));
    }
    uint32_t a;
    std::memcpy(&a, e.value.data(), sizeof(a));
    if (!IsPowerOfTwo(a)) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", Av(kGgufAlignmentKey), "' = ", a, " is not a non-zero power of two"));
    }
    return a;
  }
  return kGgufDefaultAlignment;
}

absl::Status GgufWriter::Validate() const {
  for (const Entry& e : kvs_) {
    if (e.key.empty()) return absl::InvalidArgumentError("metadata key is empty");
    if (e.longest_string > kGgufMaxStringBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", Av(e.key), "': a string of ", e.longest_string, " bytes exceeds 1 GiB"));
    }
    if (e.type == GgufType::kArray && e.array_count > kGgufMaxArrayElements) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", Av(e.key), "': array of ", e.array_count, " elements exceeds 2^30"));
    }
  }
  return Alignment().status();
}

std::string GgufWriter::EncodeMetadata(uint64_t alignment) const {
  std::string s;
  Append<uint32_t>(&s, kGgufMagic);
  Append<uint32_t>(&s, kGgufVersion);
  Append<uint64_t>(&s, tensors_.size());
  Append<uint64_t>(&s, kvs_.size());
  for (const Entry& e : kvs_) {
    AppendString(&s, e.key);
    Append<int32_t>(&s, static_cast<int32_t>(e.type));
    s.append(e.value);
  }
  uint64_t offset = 0;
  for (const GgufTensorSpec& t : tensors_) {
    AppendString(&s, t.name);
    Append<uint32_t>(&s, static_cast<uint32_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) Append<int64_t>(&s, t.ne[d]);
    Append<int32_t>(&s, t.type);
    Append<uint64_t>(&s, offset);
    uint64_t padded;
    SOV_CHECK(GgufPadChecked(t.nbytes, alignment, &padded));
    offset += padded;
  }
  return s;
}

absl::StatusOr<uint64_t> GgufWriter::DataOffset() const {
  SOV_RETURN_IF_ERROR(Validate());
  SOV_ASSIGN_OR_RETURN(uint64_t align, Alignment());
  uint64_t off;
  SOV_CHECK(GgufPadChecked(EncodeMetadata(align).size(), align, &off));
  return off;
}

absl::StatusOr<uint64_t> GgufWriter::FileSize() const {
  SOV_ASSIGN_OR_RETURN(uint64_t size, DataOffset());
  SOV_ASSIGN_OR_RETURN(uint64_t align, Alignment());
  for (const GgufTensorSpec& t : tensors_) {
    uint64_t padded;
    if (!GgufPadChecked(t.nbytes, align, &padded) || __builtin_add_overflow(size, padded, &size)) {
      return absl::InvalidArgumentError("total GGUF size overflows 64 bits");
    }
  }
  return size;
}

absl::Status GgufWriter::WriteTo(GgufSink& out, const DataFn& data) const {
  SOV_RETURN_IF_ERROR(Validate());
  SOV_ASSIGN_OR_RETURN(uint64_t align, Alignment());
  SOV_RETURN_IF_ERROR(FileSize().status());  // rejects offsets that overflow
  const std::string meta = EncodeMetadata(align);
  SOV_RETURN_IF_ERROR(out.Write(meta.data(), meta.size()));
  uint64_t pos = meta.size(), padded;
  SOV_CHECK(GgufPadChecked(pos, align, &padded));
  SOV_RETURN_IF_ERROR(WriteZeros(out, padded - pos));
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensorSpec t = tensors_[i];
    t.offset = offset;
    CountingSink sink(out, t);
    SOV_RETURN_IF_ERROR(data(i, t, sink));
    if (sink.written() != t.nbytes) {
      return absl::InvalidArgumentError(absl::StrCat("data callback for tensor '", t.name,
                                                     "' wrote ", sink.written(), " bytes, expected ",
                                                     t.nbytes));
    }
    SOV_CHECK(GgufPadChecked(t.nbytes, align, &padded));
    SOV_RETURN_IF_ERROR(WriteZeros(out, padded - t.nbytes));
    offset += padded;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GgufWriter::WriteToString(const DataFn& data) const {
  std::string s;
  StringSink sink(&s);
  SOV_RETURN_IF_ERROR(WriteTo(sink, data));
  return s;
}

absl::Status GgufWriter::WriteFile(const std::string& path, const DataFn& data) const {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create '", tmp, "': ", std::strerror(errno)));
  }
  std::vector<char> buffer(1 << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  FileSink sink(f, tmp);
  absl::Status s = WriteTo(sink, data);
  if (s.ok() && (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0)) {
    s = absl::InternalError(absl::StrCat("flushing '", tmp, "' failed: ", std::strerror(errno)));
  }
  if (std::fclose(f) != 0 && s.ok()) {
    s = absl::InternalError(absl::StrCat("closing '", tmp, "' failed: ", std::strerror(errno)));
  }
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::InternalError(
        absl::StrCat("renaming '", tmp, "' to '", path, "' failed: ", std::strerror(errno)));
  }
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace sov
