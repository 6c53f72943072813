#include "runtime/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/json_util.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

using nlohmann::json;

struct StDType {
  std::string_view name;
  int size;  // bytes; 0 = sub-byte, unsupported
  std::optional<DType> dtype;
};

constexpr StDType kStDTypes[] = {
    {"BOOL", 1, std::nullopt},    {"U8", 1, std::nullopt},      {"I8", 1, DType::kI8},
    {"F8_E5M2", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt}, {"F8_E8M0", 1, std::nullopt},
    {"I16", 2, DType::kI16},      {"U16", 2, std::nullopt},     {"F16", 2, DType::kF16},
    {"BF16", 2, DType::kBF16},    {"I32", 4, DType::kI32},      {"U32", 4, std::nullopt},
    {"F32", 4, DType::kF32},      {"F64", 8, DType::kF64},      {"I64", 8, DType::kI64},
    {"U64", 8, std::nullopt},     {"C64", 8, std::nullopt},     {"F4", 0, std::nullopt},
    {"F6_E2M3", 0, std::nullopt}, {"F6_E3M2", 0, std::nullopt},
};

const StDType* FindStDType(std::string_view name) {
  for (const StDType& d : kStDTypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

absl::Status Invalid(std::string_view source, std::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(Av(source), ": ", Av(msg)));
}

absl::Status TensorError(std::string_view source, std::string_view tensor, std::string_view msg) {
  return absl::InvalidArgumentError(
      absl::StrCat(Av(source), ": tensor \"", Av(tensor), "\": ", Av(msg)));
}

// A non-negative JSON integer, or nullopt (negative, fractional, huge,
// non-number). nlohmann stores integers beyond uint64 as floats.
std::optional<uint64_t> NonNegativeInt(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= 0) return static_cast<uint64_t>(i);
  }
  return std::nullopt;
}

absl::StatusOr<SafetensorsTensor> ParseEntry(std::string_view source, const std::string& name,
                                             const json& e, uint64_t data_size) {
  if (!e.is_object()) {
    return TensorError(source, name, absl::StrCat("expected an object, got ", JsonTypeName(e)));
  }
  SafetensorsTensor t;
  t.name = name;

  auto dt = e.find("dtype");
  if (dt == e.end()) return TensorError(source, name, "missing \"dtype\"");
  if (!dt->is_string()) {
    return TensorError(source, name,
                       absl::StrCat("\"dtype\" must be a string, got ", JsonTypeName(*dt)));
  }
  t.dtype_name = dt->get<std::string>();
  const StDType* info = FindStDType(t.dtype_name);
  if (info == nullptr) {
    return TensorError(source, name, absl::StrCat("unknown dtype \"", t.dtype_name, "\""));
  }
  if (info->size == 0) {
    return TensorError(source, name,
                       absl::StrCat("unsupported sub-byte dtype \"", t.dtype_name, "\""));
  }
  t.element_size = info->size;
  t.dtype = info->dtype;

  auto sh = e.find("shape");
  if (sh == e.end()) return TensorError(source, name, "missing \"shape\"");
  if (!sh->is_array()) {
    return TensorError(source, name,
                       absl::StrCat("\"shape\" must be an array, got ", JsonTypeName(*sh)));
  }
  // Product of the dims and the byte size, each checked against overflow.
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < sh->size(); ++i) {
    const std::optional<uint64_t> d = NonNegativeInt((*sh)[i]);
    if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TensorError(
          source, name,
          absl::StrCat("shape[", i, "] = ", (*sh)[i].dump(), " is not a non-negative integer"));
    }
    t.shape.push_back(static_cast<int64_t>(*d));
    overflow = overflow || __builtin_mul_overflow(numel, *d, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow ||
             __builtin_mul_overflow(numel, static_cast<uint64_t>(t.element_size), &nbytes) ||
             nbytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (overflow) {
    return TensorError(source, name,
                       absl::StrCat("shape ", sh->dump(),
                                    " overflows: the byte size does not "
                                    "fit in 64 bits"));
  }

  auto off = e.find("data_offsets");
  if (off == e.end()) return TensorError(source, name, "missing \"data_offsets\"");
  if (!off->is_array() || off->size() != 2) {
    return TensorError(
        source, name,
        absl::StrCat("\"data_offsets\" must be an array [begin, end], got ", off->dump()));
  }
  const std::optional<uint64_t> begin = NonNegativeInt((*off)[0]);
  const std::optional<uint64_t> end = NonNegativeInt((*off)[1]);
  if (!begin || !end) {
    return TensorError(
        source, name,
        absl::StrCat("\"data_offsets\" ", off->dump(), " must hold non-negative integers"));
  }
  if (*begin > *end) {
    return TensorError(source, name, absl::StrCat("data_offsets begin ", *begin, " > end ", *end));
  }
  if (*end > data_size) {
    return TensorError(
        source, name,
        absl::StrCat("data_offsets [", *begin, ", ", *end, "] extend past the data section (",
                     data_size, " bytes): file truncated?"));
  }
  if (*end - *begin != nbytes) {
    return TensorError(
        source, name,
        absl::StrCat("data_offsets [", *begin, ", ", *end, "] span ", *end - *begin,
                     " bytes, but shape ", sh->dump(), " of ", t.dtype_name, " needs ", nbytes));
  }
  t.nbytes = nbytes;
  t.file_offset = *begin;  // made absolute by the caller
  return t;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(std::string_view source,
                                                                 const json& m) {
  if (!m.is_object()) {
    return Invalid(source,
                   absl::StrCat("\"__metadata__\" must be an object, got ", JsonTypeName(m)));
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string()) {
      return Invalid(source, absl::StrCat("\"__metadata__\" value \"", k,
                                          "\" must be a string, got ", JsonTypeName(v)));
    }
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::optional<int> SafetensorsDTypeSize(std::string_view name) {
  const StDType* d = FindStDType(name);
  if (d == nullptr || d->size == 0) return std::nullopt;
  return d->size;
}

std::optional<DType> SafetensorsToDType(std::string_view name) {
  const StDType* d = FindStDType(name);
  return d == nullptr ? std::nullopt : d->dtype;
}

std::string_view DTypeToSafetensors(DType t) {
  for (const StDType& d : kStDTypes) {
    if (d.dtype == t) return d.name;
  }
  return {};
}

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated not to overflow at parse time
  return n;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensors(std::string_view image,
                                                   std::string_view source) {
  if (image.size() < 8) {
    return Invalid(source, absl::StrCat("file is ", image.size(),
                                        " bytes, too short for the 8-byte header length"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(image[i]);  // little-endian
  if (n > kMaxSafetensorsHeaderBytes) {
    return Invalid(
        source, absl::StrCat("header length ", n, " is absurd (limit ", kMaxSafetensorsHeaderBytes,
                             " bytes): not a safetensors file?"));
  }
  if (n > image.size() - 8) {
    return Invalid(source, absl::StrCat("header length ", n, " exceeds the ", image.size() - 8,
                                        " bytes after the length field: file truncated?"));
  }
  if (n == 0) return Invalid(source, "header length is 0");

  absl::StatusOr<json> header =
      ParseJsonStrict(image.substr(8, n), absl::StrCat(Av(source), ": header"));
  if (!header.ok()) return header.status();
  if (!header->is_object()) {
    return Invalid(source,
                   absl::StrCat("header must be a JSON object, got ", JsonTypeName(*header)));
  }

  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_size = image.size() - out.data_start;
  const uint8_t* data = reinterpret_cast<const uint8_t*>(image.data()) + out.data_start;
  for (const auto& [name, entry] : header->items()) {
    if (name == "__metadata__") {
      absl::StatusOr<std::map<std::string, std::string>> m = ParseMetadata(source, entry);
      if (!m.ok()) return m.status();
      out.metadata = *std::move(m);
      continue;
    }
    absl::StatusOr<SafetensorsTensor> t = ParseEntry(source, name, entry, data_size);
    if (!t.ok()) return t.status();
    t->data = t->nbytes == 0 ? nullptr : data + t->file_offset;
    t->file_offset += out.data_start;
    out.tensors.push_back(*std::move(t));
  }

  // Overlap check on the non-empty ranges in offset order (several empty
  // tensors may share one offset harmlessly).
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
              return a.file_offset != b.file_offset ? a.file_offset < b.file_offset
                                                    : a.name < b.name;
            });
  const SafetensorsTensor* prev = nullptr;
  for (const SafetensorsTensor& t : out.tensors) {
    if (t.nbytes == 0) continue;
    if (prev != nullptr && t.file_offset < prev->file_offset + prev->nbytes) {
      const uint64_t ds = out.data_start;
      return Invalid(source, absl::StrCat("tensors \"", prev->name, "\" [", prev->file_offset - ds,
                                          ", ", prev->file_offset - ds + prev->nbytes, ") and \"",
                                          t.name, "\" [", t.file_offset - ds, ", ",
                                          t.file_offset - ds + t.nbytes, ") overlap"));
    }
    prev = &t;
  }
  return out;
}

absl::StatusOr<SafetensorsReader> SafetensorsReader::Open(const std::string& path) {
  SafetensorsReader r;
  std::string index_path;
  if (IsDirectory(path)) {
    const std::string single = path + "/model.safetensors";
    const std::string index = path + "/model.safetensors.index.json";
    if (IsFile(single)) {
      SOV_RETURN_IF_ERROR(r.AddFile(single));
    } else if (IsFile(index)) {
      index_path = index;
    } else {
      return absl::NotFoundError(absl::StrCat(
          path, ": no model.safetensors or model.safetensors.index.json in this directory"));
    }
  } else if (EndsWith(path, ".index.json")) {
    index_path = path;
  } else {
    SOV_RETURN_IF_ERROR(r.AddFile(path));
  }

  if (!index_path.empty()) {
    absl::StatusOr<std::string> text = ReadWholeFile(index_path);
    if (!text.ok()) return text.status();
    absl::StatusOr<json> index = ParseJsonStrict(*text, index_path);
    if (!index.ok()) return index.status();
    absl::StatusOr<const json*> wm = index->is_object()
                                         ? GetObject(*index, "weight_map")
                                         : absl::InvalidArgumentError("expected a JSON object");
    if (!wm.ok()) return Invalid(index_path, std::string(wm.status().message()));
    // Shard names are plain file names next to the index: a '/' could make a
    // crafted index read files elsewhere.
    std::map<std::string, std::string> shard_of;  // tensor -> shard file name
    std::set<std::string> shards;
    for (const auto& [name, shard] : (*wm)->items()) {
      if (!shard.is_string()) {
        return Invalid(index_path,
                       absl::StrCat("weight_map[\"", name, "\"] must be a file name, got ",
                                    JsonTypeName(shard)));
      }
      const std::string file = shard.get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        return Invalid(index_path, absl::StrCat("weight_map[\"", name, "\"] = \"", file,
                                                "\" is not a plain file name"));
      }
      shard_of[name] = file;
      shards.insert(file);
    }
    if (shards.empty()) return Invalid(index_path, "weight_map is empty");
    const std::string dir = DirName(index_path);
    std::map<std::string, int> file_index;
    for (const std::string& s : shards) {
      file_index[s] = static_cast<int>(r.files_.size());
      SOV_RETURN_IF_ERROR(r.AddFile(dir + "/" + s));
    }
    SOV_RETURN_IF_ERROR(r.BuildIndex());
    for (const auto& [name, shard] : shard_of) {
      const SafetensorsTensor* t = r.Find(name);
      if (t == nullptr || t->file_index != file_index[shard]) {
        return Invalid(index_path, absl::StrCat("weight_map puts tensor \"", name, "\" in ", shard,
                                                ", which does not contain it"));
      }
    }
    return r;
  }
  SOV_RETURN_IF_ERROR(r.BuildIndex());
  return r;
}

absl::Status SafetensorsReader::AddFile(const std::string& path) {
  absl::StatusOr<MappedFile> map = MappedFile::Open(path);
  if (!map.ok()) return map.status();
  auto file = std::make_unique<File>();
  file->map = *std::move(map);
  absl::StatusOr<SafetensorsHeader> h = ParseSafetensors(file->map.view(), path);
  if (!h.ok()) return h.status();
  const int index = static_cast<int>(files_.size());
  for (SafetensorsTensor& t : h->tensors) t.file_index = index;
  file->tensors = std::move(h->tensors);
  if (files_.empty()) metadata_ = std::move(h->metadata);
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

absl::Status SafetensorsReader::BuildIndex() {
  by_name_.clear();
  for (const auto& f : files_) {
    for (const SafetensorsTensor& t : f->tensors) {
      auto [it, inserted] = by_name_.emplace(t.name, &t);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("tensor \"", t.name, "\" appears in both ",
                                                       files_[it->second->file_index]->map.path(),
                                                       " and ", f->map.path()));
      }
    }
  }
  names_.clear();
  names_.reserve(by_name_.size());
  for (const auto& [name, t] : by_name_) names_.push_back(name);
  return absl::OkStatus();
}

const SafetensorsTensor* SafetensorsReader::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::string SafetensorsReader::ClosestName(std::string_view name) const {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& n : names_) {
    const size_t d = EditDistance(name, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

absl::StatusOr<const SafetensorsTensor*> SafetensorsReader::Lookup(std::string_view name) const {
  if (const SafetensorsTensor* t = Find(name)) return t;
  std::string where = files_.size() == 1 ? files_[0]->map.path()
                                         : absl::StrCat(files_.size(), " safetensors shards");
  std::string msg = absl::StrCat("no tensor \"", Av(name), "\" in ", where);
  if (!names_.empty()) absl::StrAppend(&msg, " (closest name: \"", ClosestName(name), "\")");
  return absl::NotFoundError(msg);
}

absl::StatusOr<TensorView> SafetensorsReader::Get(std::string_view name) const {
  absl::StatusOr<const SafetensorsTensor*> t = Lookup(name);
  if (!t.ok()) return t.status();
  const SafetensorsTensor& s = **t;
  if (!s.dtype) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", Av(name), "\" has dtype ",
                                                   s.dtype_name, ", which no kernel consumes"));
  }
  if (s.shape.size() > kMaxTensorDims) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", Av(name), "\" has rank ",
                                                   s.shape.size(), " (shape ", ShapeString(s.shape),
                                                   "), more than ", kMaxTensorDims));
  }
  return TensorView::Make(s.data, *s.dtype, s.shape);
}

std::vector<std::string> SafetensorsReader::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->map.path());
  return out;
}

}  // namespace sov
