// `sov gguf-info FILE`: prints a GGUF file's header, metadata and tensor table.
#include <cinttypes>
#include <algorithm>
#include <cstdio>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"
#include "runtime/gguf_reader.h"
#include "runtime/gguf_writer.h"

namespace sov::cli {
namespace {

// Quoted, with control characters escaped and long text (chat templates)
// shortened: the table is for reading, not for copying values out.
std::string Quote(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : s) {
    if (shown == max_chars) {
      absl::StrAppend(&out, "\"... (", s.size(), " bytes)");
      return out;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
    ++shown;
  }
  return out + "\"";
}

std::string Element(const GgufKV& kv, uint64_t i, size_t max_chars) {
  switch (kv.elem_type) {
    case GgufType::kUint8: return absl::StrCat(kv.Get<uint8_t>(i));
    case GgufType::kInt8: return absl::StrCat(kv.Get<int8_t>(i));
    case GgufType::kUint16: return absl::StrCat(kv.Get<uint16_t>(i));
    case GgufType::kInt16: return absl::StrCat(kv.Get<int16_t>(i));
    case GgufType::kUint32: return absl::StrCat(kv.Get<uint32_t>(i));
    case GgufType::kInt32: return absl::StrCat(kv.Get<int32_t>(i));
    case GgufType::kUint64: return absl::StrCat(kv.Get<uint64_t>(i));
    case GgufType::kInt64: return absl::StrCat(kv.Get<int64_t>(i));
    case GgufType::kFloat32: return absl::StrFormat("%.9g", kv.Get<float>(i));
    case GgufType::kFloat64: return absl::StrFormat("%.17g", kv.Get<double>(i));
    case GgufType::kBool: return kv.Get<uint8_t>(i) ? "true" : "false";
    case GgufType::kString:
      return Quote(kv.is_array() ? kv.strs[i] : kv.str, max_chars);
    case GgufType::kArray: break;
  }
  return "?";
}

std::string Value(const GgufKV& kv, uint64_t max_items) {
  if (!kv.is_array()) return Element(kv, 0, 200);
  std::string out = "[";
  const uint64_t shown = std::min<uint64_t>(kv.count, max_items);
  for (uint64_t i = 0; i < shown; ++i) absl::StrAppend(&out, i ? ", " : "", Element(kv, i, 40));
  if (shown < kv.count) absl::StrAppend(&out, shown ? ", " : "", "... ");
  absl::StrAppend(&out, "] (", kv.count, " items)");
  return out;
}

// Re-writes every pair and tensor of `in` through GgufWriter: a byte-level
// check of the reader/writer pair against files other tools wrote.
absl::Status CopyTo(const GgufReader& in, const std::string& out) {
  GgufWriter w;
  for (const GgufKV& kv : in.kvs()) w.CopyKV(kv);
  for (const GgufTensor& t : in.tensors()) {
    SOV_RETURN_IF_ERROR(
        w.AddTensor(t.name, t.type, std::span<const int64_t>(t.ne.data(), std::max(t.n_dims, 1))));
  }
  return w.WriteFile(out, [&](size_t i, const GgufTensorSpec& t, GgufSink& sink) {
    return sink.Write(in.tensors()[i].data, t.nbytes);
  });
}

absl::Status RunGgufInfo(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {"no-tensors"}, {{"n", "items"}}));
  SOV_RETURN_IF_ERROR(args.CheckKnown({"items", "no-tensors", "copy-to"}));
  if (args.positional().size() != 1) {
    return absl::InvalidArgumentError("expected exactly one FILE (see sov gguf-info --help)");
  }
  SOV_ASSIGN_OR_RETURN(int64_t items, args.GetInt("items", 8));
  if (items < 0) return absl::InvalidArgumentError("--items must be >= 0");
  SOV_ASSIGN_OR_RETURN(auto gguf, GgufReader::Open(args.positional()[0]));

  std::printf("file: %s\n", gguf->name().c_str());
  std::printf("version: %u  size: %" PRIu64 " bytes  alignment: %" PRIu64
              "  data offset: %" PRIu64 "\n",
              gguf->version(), gguf->file_size(), gguf->alignment(), gguf->data_offset());
  std::printf("\nmetadata: %zu pairs\n", gguf->kvs().size());
  for (const GgufKV& kv : gguf->kvs()) {
    std::printf("  %-48.*s %-16s %s\n", static_cast<int>(kv.key.size()), kv.key.data(),
                kv.TypeName().c_str(), Value(kv, static_cast<uint64_t>(items)).c_str());
  }
  uint64_t total = 0;
  for (const GgufTensor& t : gguf->tensors()) total += t.nbytes;
  std::printf("\ntensors: %zu, %" PRIu64 " bytes of data\n", gguf->tensors().size(), total);
  if (auto out = args.Get("copy-to")) {
    SOV_RETURN_IF_ERROR(CopyTo(*gguf, *out));
    std::printf("\ncopied through the GGUF writer to %s\n", out->c_str());
  }
  if (args.Has("no-tensors")) return absl::OkStatus();
  std::printf("  %5s  %-40s %-8s %-28s %14s %14s\n", "#", "name", "type", "ne", "offset", "bytes");
  for (size_t i = 0; i < gguf->tensors().size(); ++i) {
    const GgufTensor& t = gguf->tensors()[i];
    std::string ne;
    for (int d = 0; d < std::max(t.n_dims, 1); ++d) absl::StrAppend(&ne, d ? ", " : "", t.ne[d]);
    std::printf("  %5zu  %-40.*s %-8s %-28s %14" PRIu64 " %14" PRIu64 "\n", i,
                static_cast<int>(t.name.size()), t.name.data(), GgmlTypeName(t.type).c_str(),
                absl::StrCat("[", ne, "]").c_str(), gguf->data_offset() + t.offset, t.nbytes);
  }
  return absl::OkStatus();
}

SOV_COMMAND(Command{
    "gguf-info", "print a GGUF file's metadata and tensor table",
    "usage: sov gguf-info FILE [--items N] [--no-tensors] [--copy-to OUT]\n"
    "  Validates FILE as GGUF v2/v3 and prints its header, every metadata pair\n"
    "  (arrays abbreviated to N items, default 8) and its tensors: name, ggml\n"
    "  type, ne (innermost first), absolute file offset and byte size.\n"
    "  --copy-to OUT re-writes FILE through Sovereign's GGUF writer (same pairs\n"
    "  in the same order, same tensors, alignment from FILE's general.alignment).",
    RunGgufInfo});

}  // namespace
}  // namespace sov::cli
