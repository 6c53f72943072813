// `sov quantize-tensor`: quantizes one raw float32 matrix to ggml blocks, with
// the bytes of ggml's reference quantizer (spec quantization.md). Used to
// check the quantizers against other implementations byte for byte.
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/parallel.h"
#include "quant/dtype.h"
#include "quant/quantize.h"
#include "runtime/check.h"
#include "runtime/cli/command.h"

namespace sov::cli {
namespace {

static_assert(std::endian::native == std::endian::little, "files are little-endian");

constexpr char kUsage[] =
    "usage: sov quantize-tensor --type q4_K|q5_K|q6_K|q8_0 --rows R --cols C --in x.f32\n"
    "                           [--imatrix w.f32] --out blocks.bin\n\n"
    "  --in       R*C little-endian float32 values, row-major\n"
    "  --imatrix  C float32 importance values, one per column (ignored by q8_0)\n"
    "  --out      the R rows of blocks, in file order (written to a temporary\n"
    "             file in the same folder, then renamed)\n"
    "C must be a multiple of the block size (256 for the K types, 32 for q8_0).";

// Reads exactly `count` float32 values, or says how the file size differs.
absl::StatusOr<std::vector<float>> ReadFloats(const std::string& path, int64_t count,
                                              const std::string& what) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file ", path, ": ", ec.message()));
  const uintmax_t want = static_cast<uintmax_t>(count) * sizeof(float);
  if (size != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " file ", path, " is ", size, " bytes; expected ", want, " (", count,
        " float32 values): the file is too ", size < want ? "short" : "long"));
  }
  std::vector<float> v(static_cast<size_t>(count));
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", what, " file ", path, ": ", std::strerror(errno)));
  }
  const size_t got = v.empty() ? 0 : std::fread(v.data(), sizeof(float), v.size(), f);
  std::fclose(f);
  if (got != v.size()) return absl::DataLossError(absl::StrCat("short read from ", path));
  return v;
}

// Writes via a temporary file in the destination folder so that a failed run
// never leaves a truncated output under the final name.
absl::Status WriteAtomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::path p(path);
  std::filesystem::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / (p.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create a temporary file in ", dir.string(), ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      std::remove(tmpl.c_str());
      return absl::DataLossError(absl::StrCat("writing ", tmpl, " failed: ", err));
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) {
    std::remove(tmpl.c_str());
    return absl::DataLossError(absl::StrCat("closing ", tmpl, " failed: ", std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmpl, path, ec);
  if (ec) {
    std::remove(tmpl.c_str());
    return absl::DataLossError(absl::StrCat("cannot rename ", tmpl, " to ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status RunQuantizeTensor(const std::vector<std::string>& argv) {
  SOV_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {}, {}));
  SOV_RETURN_IF_ERROR(args.CheckKnown({"type", "rows", "cols", "in", "imatrix", "out"}));
  SOV_ASSIGN_OR_RETURN(std::string type_name, args.Require("type"));
  SOV_ASSIGN_OR_RETURN(std::string in_path, args.Require("in"));
  SOV_ASSIGN_OR_RETURN(std::string out_path, args.Require("out"));
  if (!args.Has("rows") || !args.Has("cols")) {
    return absl::InvalidArgumentError("--rows and --cols are required");
  }
  SOV_ASSIGN_OR_RETURN(int64_t rows, args.GetInt("rows", 0));
  SOV_ASSIGN_OR_RETURN(int64_t cols, args.GetInt("cols", 0));

  const std::optional<DType> parsed = ParseDType(type_name);
  if (!parsed || (*parsed != DType::kQ4_K && *parsed != DType::kQ5_K && *parsed != DType::kQ6_K &&
                  *parsed != DType::kQ8_0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --type '", type_name, "' (expected q4_K, q5_K, q6_K or q8_0)"));
  }
  const DType type = *parsed;
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--rows and --cols must be positive, got ", rows, " and ", cols));
  }
  const int64_t bs = BlockSize(type);
  if (cols % bs != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--cols ", cols, " is not a multiple of the ",
                                                   std::string(Name(type)), " block size ", bs));
  }
  if (rows > (int64_t{1} << 40) / cols) {
    return absl::InvalidArgumentError(absl::StrCat("matrix ", rows, " x ", cols, " is too large"));
  }

  SOV_ASSIGN_OR_RETURN(std::vector<float> x, ReadFloats(in_path, rows * cols, "--in"));
  std::vector<float> imatrix;
  if (auto im = args.Get("imatrix")) {
    SOV_ASSIGN_OR_RETURN(imatrix, ReadFloats(*im, cols, "--imatrix"));
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(imatrix[c])) {
        return absl::InvalidArgumentError(absl::StrCat("--imatrix value at column ", c, " is ",
                                                       imatrix[c], "; importance values must be finite"));
      }
    }
  }

  const size_t row_bytes = RowBytes(type, cols);
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
  const float* qw = imatrix.empty() ? nullptr : imatrix.data();
  // Rows are independent (spec §2.5), so the split cannot change the bytes.
  std::vector<absl::Status> errors(static_cast<size_t>(rows));
  kernels::ParallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    errors[r0] = QuantizeRows(type, x.data() + r0 * cols, r1 - r0, cols, qw,
                              out.data() + static_cast<size_t>(r0) * row_bytes);
  });
  for (const absl::Status& s : errors) SOV_RETURN_IF_ERROR(s);
  return WriteAtomically(out_path, out);
}

SOV_COMMAND(Command{"quantize-tensor", "quantize a raw float32 matrix to q4_K/q5_K/q6_K/q8_0 blocks",
                    kUsage, RunQuantizeTensor});

}  // namespace
}  // namespace sov::cli
