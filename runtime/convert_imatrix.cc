// Importance matrices for `sov quantize --imatrix`: llama.cpp's GGUF imatrix
// (tensors `<weight>.in_sum2` [cols, n_mat] and `<weight>.counts` [1, n_mat],
// keys imatrix.datasets / imatrix.chunk_count) and the legacy binary format
// (int32 entry count; per entry int32 name length, name, int32 ncall, int32
// value count, float values; optionally int32 last call, int32 dataset length,
// dataset name).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/check.h"
#include "runtime/convert.h"
#include "runtime/gguf_reader.h"
#include "runtime/mapped_file.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

absl::Status BadFile(const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("imatrix ", path, ": ", Av(why)));
}

absl::StatusOr<Imatrix> LoadGgufImatrix(const GgufReader& g, const std::string& path) {
  Imatrix m;
  constexpr std::string_view kSums = ".in_sum2", kCounts = ".counts";
  for (const GgufTensor& t : g.tensors()) {
    std::string_view n = t.name;
    if (n.size() <= kSums.size() || n.substr(n.size() - kSums.size()) != kSums) continue;
    const std::string weight(n.substr(0, n.size() - kSums.size()));
    const std::string counts_name = weight + std::string(kCounts);
    const GgufTensor* c = g.FindTensor(counts_name);
    if (c == nullptr) return BadFile(path, absl::StrCat("tensor ", Av(t.name), " has no ", counts_name));
    if (t.type != 0 || c->type != 0)
      return BadFile(path, absl::StrCat(weight, ": in_sum2 and counts must be f32"));
    const int64_t cols = t.ne[0], n_mat = t.ne[1];
    if (t.ne[2] != 1 || t.ne[3] != 1 || c->elements() != n_mat)
      return BadFile(path, absl::StrCat(weight, ": in_sum2 ne [", cols, ",", n_mat,
                                        "] and counts of ", c->elements(), " values disagree"));
    Imatrix::Entry e;
    e.cols = cols;
    e.n_mat = n_mat;
    e.values.resize(static_cast<size_t>(cols * n_mat));
    for (int64_t j = 0; j < n_mat; ++j) {
      float count;
      std::memcpy(&count, c->data + 4 * j, 4);
      for (int64_t i = 0; i < cols; ++i) {
        float s;
        std::memcpy(&s, t.data + 4 * (j * cols + i), 4);
        // A matrix that saw no calibration input gets uniform importance.
        e.values[j * cols + i] = count > 0.0f ? s / count : 1.0f;
      }
    }
    m.entries.emplace(weight, std::move(e));
  }
  if (m.entries.empty()) return BadFile(path, "no <name>.in_sum2 tensors");
  if (g.Has("imatrix.datasets")) {
    SOV_ASSIGN_OR_RETURN(std::span<const std::string_view> ds, g.GetStringArray("imatrix.datasets"));
    if (!ds.empty()) m.dataset = std::string(ds[0]);
  }
  SOV_ASSIGN_OR_RETURN(uint32_t chunks, g.GetU32Or("imatrix.chunk_count", 0));
  m.chunks = chunks;
  return m;
}

// Bounds-checked little-endian reader over the legacy file.
struct Cursor {
  const uint8_t* p;
  uint64_t left;
  bool Read(void* out, uint64_t n) {
    if (n > left) return false;
    std::memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
};

absl::StatusOr<Imatrix> LoadLegacyImatrix(const uint8_t* data, uint64_t size, const std::string& path) {
  Imatrix m;
  Cursor c{data, size};
  int32_t n = 0;
  if (!c.Read(&n, 4) || n < 1) return BadFile(path, "not a GGUF and no legacy entry count");
  for (int32_t i = 0; i < n; ++i) {
    int32_t len = 0, ncall = 0, nval = 0;
    if (!c.Read(&len, 4) || len <= 0 || static_cast<uint64_t>(len) > c.left)
      return BadFile(path, absl::StrCat("entry ", i, ": bad name length"));
    std::string name(static_cast<size_t>(len), '\0');
    c.Read(name.data(), static_cast<uint64_t>(len));
    if (!c.Read(&ncall, 4) || !c.Read(&nval, 4) || nval < 1 ||
        static_cast<uint64_t>(nval) * 4 > c.left)
      return BadFile(path, absl::StrCat("entry ", i, " (", name, "): bad value count"));
    Imatrix::Entry e;
    e.values.resize(static_cast<size_t>(nval));
    c.Read(e.values.data(), static_cast<uint64_t>(nval) * 4);
    if (ncall > 0)
      for (float& v : e.values) v /= static_cast<float>(ncall);
    // The legacy format does not record the row length; QuantizeModel
    // splits the values by the tensor's ne[0].
    e.cols = nval;
    e.n_mat = 1;
    m.entries.emplace(std::move(name), std::move(e));
  }
  int32_t last_call = 0, ds_len = 0;
  if (c.left >= 8 && c.Read(&last_call, 4) && c.Read(&ds_len, 4) && ds_len >= 0 &&
      static_cast<uint64_t>(ds_len) <= c.left) {
    m.dataset.assign(reinterpret_cast<const char*>(c.p), static_cast<size_t>(ds_len));
    m.chunks = last_call;
  }
  return m;
}

}  // namespace

absl::StatusOr<Imatrix> LoadImatrix(const std::string& path) {
  SOV_ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  uint32_t magic = 0;
  if (f.size() >= 4) std::memcpy(&magic, f.data(), 4);
  if (magic == kGgufMagic) {
    SOV_ASSIGN_OR_RETURN(std::unique_ptr<GgufReader> g, GgufReader::Open(path));
    return LoadGgufImatrix(*g, path);
  }
  return LoadLegacyImatrix(f.data(), f.size(), path);
}

}  // namespace sov
