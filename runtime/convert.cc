#include "runtime/convert.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include <tbb/task_arena.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/parallel.h"
#include "models/gemma4/tensor_table.h"
#include "quant/quantize.h"
#include "runtime/check.h"
#include "runtime/gguf_model.h"
#include "runtime/gguf_reader.h"
#include "runtime/hf_config.h"
#include "runtime/loader.h"
#include "runtime/safetensors.h"
#include "runtime/str_util.h"

namespace sov {

using gemma4::ModelConfig;
using gemma4::Presence;
using gemma4::TensorId;

namespace {

// One tensor of the input, under its GGUF name.
struct Source {
  std::string name;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  int n_dims = 1;
  DType type = DType::kF32;        // the type the input "has" (mix source type)
  const uint8_t* data = nullptr;   // bytes in `type` (nullptr: generated)
  std::vector<float> generated;    // rope_freqs.weight
  std::function<void(int64_t, int64_t, float*)> rows;  // GeneratedTensor::rows
  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

struct Input {
  ModelConfig config;
  std::vector<Source> tensors;
  std::unique_ptr<GgufReader> gguf;                // GGUF input
  std::optional<SafetensorsReader> safetensors;    // HF input
  std::string hf_dir;
  std::function<absl::Status(GgufWriter&)> metadata;  // generated input
};

std::array<int64_t, 4> Ne(const std::vector<int64_t>& torch_shape) {
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  for (size_t i = 0; i < torch_shape.size(); ++i) ne[i] = torch_shape[torch_shape.size() - 1 - i];
  return ne;
}

absl::Status OpenHf(const std::string& dir, Input& in) {
  SOV_ASSIGN_OR_RETURN(HfConfig hf, ReadHfConfig(dir));
  SOV_ASSIGN_OR_RETURN(in.config, Gemma4ConfigFromHf(hf));
  SOV_ASSIGN_OR_RETURN(SafetensorsReader r, SafetensorsReader::Open(dir));
  in.safetensors.emplace(std::move(r));
  in.hf_dir = dir;
  const SafetensorsReader& st = *in.safetensors;
  std::string prefix = "model.";
  for (const std::string& n : st.names())
    if (n.rfind("model.language_model.", 0) == 0) prefix = "model.language_model.";
  const ModelConfig& c = in.config;
  for (const gemma4::TensorInfo& info : gemma4::TensorTable()) {
    const int64_t n_inst = info.per_layer ? c.num_layers : 1;
    for (int64_t i = 0; i < n_inst; ++i) {
      const int64_t layer = info.per_layer ? i : -1;
      const Presence p = gemma4::PresenceOf(c, info.id, layer);
      // KV weights of KV-shared layers are unused; llama.cpp's files omit them.
      if (p == Presence::kIgnored || p == Presence::kAbsent) continue;
      const std::string hf = prefix + gemma4::HfName(info.id, layer);
      const SafetensorsTensor* t = st.Find(hf);
      if (t == nullptr) {
        if (p == Presence::kOptional) continue;
        return absl::NotFoundError(absl::StrCat(dir, ": missing tensor ", hf, " required by config.json"));
      }
      const std::vector<int64_t> want = gemma4::Shape(c, info.id, layer);
      const bool scalar_ok = t->shape.empty() && want == std::vector<int64_t>{1};
      if (t->shape != want && !scalar_ok)
        return absl::InvalidArgumentError(absl::StrCat(dir, ": tensor ", hf, " has the wrong shape for config.json"));
      if (!t->dtype || (*t->dtype != DType::kF32 && *t->dtype != DType::kBF16 && *t->dtype != DType::kF16))
        return absl::InvalidArgumentError(absl::StrCat(dir, ": tensor ", hf, " has dtype ", t->dtype_name,
                                                       ", expected F32, BF16 or F16"));
      Source s;
      s.name = gemma4::GgufName(info.id, layer);
      s.ne = Ne(want);
      s.n_dims = static_cast<int>(want.size());
      // convert_hf_to_gguf keeps 1-D tensors in f32 and matrices in their dtype.
      s.type = want.size() == 1 ? DType::kF32 : *t->dtype;
      if (want.size() == 1 && *t->dtype != DType::kF32) {
        s.generated.resize(static_cast<size_t>(want[0]));
        std::vector<uint8_t> tmp(t->data, t->data + t->nbytes);  // aligned for DequantizeRow
        DequantizeRow(*t->dtype, tmp.data(), s.generated.data(), want[0]);
      } else {
        s.data = t->data;
      }
      in.tensors.push_back(std::move(s));
    }
  }
  bool any_full = false;
  for (const gemma4::LayerConfig& lc : c.layers) any_full |= lc.type == gemma4::LayerType::kFull;
  if (any_full) {
    Source s;
    s.name = "rope_freqs.weight";
    s.generated = RopeFreqFactors(c);
    s.ne = {static_cast<int64_t>(s.generated.size()), 1, 1, 1};
    in.tensors.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::Status OpenGguf(const std::string& path, Input& in) {
  SOV_ASSIGN_OR_RETURN(in.gguf, GgufReader::Open(path));
  SOV_ASSIGN_OR_RETURN(in.config, Gemma4ConfigFromGguf(*in.gguf));
  for (const GgufTensor& t : in.gguf->tensors()) {
    if (!t.dtype.has_value() || !CanDequantize(*t.dtype))
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", Av(t.name), " has type ",
                                                     GgmlTypeName(t.type), ", which sov quantize cannot read"));
    Source s;
    s.name = std::string(t.name);
    s.ne = t.ne;
    s.n_dims = t.n_dims;
    s.type = *t.dtype;
    s.data = t.data;
    in.tensors.push_back(std::move(s));
  }
  return absl::OkStatus();
}

// f32 values of a whole source tensor.
std::vector<float> SourceF32(const Source& s) {
  if (!s.generated.empty()) return s.generated;
  std::vector<float> out(static_cast<size_t>(s.elements()));
  const size_t bytes = RowBytes(s.type, s.ne[0]) * static_cast<size_t>(s.elements() / s.ne[0]);
  // Safetensors data need not be aligned to the element size.
  std::vector<uint8_t> tmp;
  const uint8_t* p = s.data;
  if (reinterpret_cast<uintptr_t>(p) % 4 != 0) {
    tmp.assign(p, p + bytes);
    p = tmp.data();
  }
  const int64_t rows = s.elements() / s.ne[0];
  const size_t rb = RowBytes(s.type, s.ne[0]);
  for (int64_t r = 0; r < rows; ++r)
    DequantizeRow(s.type, p + static_cast<size_t>(r) * rb, out.data() + r * s.ne[0], s.ne[0]);
  return out;
}

// Generates, quantizes and writes a GeneratedTensor one block of rows at a
// time, so only a block (not the tensor) is ever in memory.
absl::Status WriteGeneratedTensor(const Source& s, DType to, const Imatrix::Entry* e,
                                  tbb::task_arena* arena, int64_t block_rows, GgufSink& out) {
  const int64_t cols = s.ne[0], rows_per_slice = s.ne[1], slices = s.ne[2] * s.ne[3];
  const size_t rb = RowBytes(to, cols);
  // About 8 MiB of f32 per block: enough rows to keep every thread busy.
  if (block_rows <= 0) block_rows = (int64_t{1} << 21) / cols;
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(rows_per_slice, block_rows));
  std::vector<float> x(static_cast<size_t>(block * cols));
  std::vector<uint8_t> dst(static_cast<size_t>(block) * rb);
  absl::Status status;
  std::mutex mu;
  for (int64_t sl = 0; sl < slices; ++sl) {
    const float* qw = nullptr;
    if (e != nullptr) qw = e->values.data() + (e->cols * e->n_mat == cols ? 0 : sl * cols);
    for (int64_t b0 = 0; b0 < rows_per_slice; b0 += block) {
      const int64_t n = std::min(block, rows_per_slice - b0);
      const int64_t first = sl * rows_per_slice + b0;
      auto run = [&] {
        kernels::ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
          s.rows(first + r0, r1 - r0, x.data() + r0 * cols);
          absl::Status st = QuantizeRows(to, x.data() + r0 * cols, r1 - r0, cols, qw, dst.data() + r0 * rb);
          if (!st.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            if (status.ok()) status = st;
          }
        });
      };
      if (arena != nullptr) {
        arena->execute(run);
      } else {
        run();
      }
      if (!status.ok())
        return absl::Status(status.code(), absl::StrCat("tensor ", s.name, ": ", status.message()));
      SOV_RETURN_IF_ERROR(out.Write(dst.data(), static_cast<size_t>(n) * rb));
    }
  }
  return absl::OkStatus();
}

class ProgressBar {
 public:
  ProgressBar(bool on, size_t total) : on_(on), total_(total) {}
  void Step(size_t i, const std::string& name, DType from, DType to) {
    if (!on_) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * (i + 1) / std::max<size_t>(total_, 1));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] %4zu/%zu %-40.40s %5s -> %-5s", bar.c_str(), i + 1, total_,
                 name.c_str(), std::string(Name(from)).c_str(), std::string(Name(to)).c_str());
    if (i + 1 == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool on_;
  size_t total_;
};

}  // namespace

namespace {

absl::StatusOr<QuantizeReport> WriteModel(const Input& in, const std::string& out_path,
                                          const QuantizeOptions& opt);

}  // namespace

absl::StatusOr<QuantizeReport> QuantizeModel(const std::string& in_path, const std::string& out_path,
                                             const QuantizeOptions& opt) {
  if (in_path == out_path)
    return absl::InvalidArgumentError("the output path must differ from the input path");
  Input in;
  if (IsGgufFile(in_path)) {
    SOV_RETURN_IF_ERROR(OpenGguf(in_path, in));
  } else {
    SOV_RETURN_IF_ERROR(OpenHf(in_path, in));
  }
  return WriteModel(in, out_path, opt);
}

absl::StatusOr<QuantizeReport> WriteGeneratedModel(
    const ModelConfig& c, std::vector<GeneratedTensor> tensors,
    const std::function<absl::Status(GgufWriter&)>& metadata, const std::string& out,
    const QuantizeOptions& opt) {
  Input in;
  in.config = c;
  in.metadata = metadata;
  for (GeneratedTensor& g : tensors) {
    if (!g.rows) return absl::InvalidArgumentError(absl::StrCat("tensor ", g.name, " has no row source"));
    Source s;
    s.name = std::move(g.name);
    s.ne = g.ne;
    s.n_dims = g.n_dims;
    s.type = g.source;
    s.rows = std::move(g.rows);
    in.tensors.push_back(std::move(s));
  }
  return WriteModel(in, out, opt);
}

namespace {

absl::StatusOr<QuantizeReport> WriteModel(const Input& in, const std::string& out_path,
                                          const QuantizeOptions& opt) {
  const ModelConfig& c = in.config;

  std::optional<Imatrix> imatrix;
  if (!opt.imatrix_path.empty()) {
    SOV_ASSIGN_OR_RETURN(imatrix, LoadImatrix(opt.imatrix_path));
  }

  // Types (llama-quant rules) and file order (the loader's sorted order).
  std::vector<MixTensor> mix;
  std::vector<std::string> names;
  for (const Source& s : in.tensors) {
    mix.push_back(MixTensor{s.name, s.ne, s.type});
    names.push_back(s.name);
  }
  SOV_ASSIGN_OR_RETURN(std::vector<DType> types,
                       ChooseTensorTypes(opt.ftype, mix, static_cast<int>(c.num_layers),
                                         static_cast<int>(c.enable_moe ? c.num_experts : 0), opt.mix));
  const std::vector<size_t> order = ProcessingOrder(names);

  GgufWriter w;
  if (in.gguf) {
    // llama-quantize: every input pair in input order, split.* dropped; the
    // data alignment is always 32, so general.alignment is not carried over.
    for (const GgufKV& kv : in.gguf->kvs()) {
      if (kv.key.rfind("split.", 0) == 0 || kv.key == kGgufAlignmentKey) continue;
      w.CopyKV(kv);
    }
  } else if (in.metadata) {
    SOV_RETURN_IF_ERROR(in.metadata(w));
  } else {
    w.SetString("general.architecture", "gemma4");
    std::string base = in.hf_dir;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    w.SetString("general.name", base.substr(base.find_last_of('/') + 1));
    SOV_RETURN_IF_ERROR(SetGemma4Metadata(c, w));
    SOV_ASSIGN_OR_RETURN(bool has_tokenizer, SetTokenizerFromHf(in.hf_dir, c, w));
    (void)has_tokenizer;  // tiny test models have none; llama.cpp then cannot load the file
  }
  w.SetU32("general.quantization_version", 2);
  w.SetU32("general.file_type", static_cast<uint32_t>(opt.ftype));

  QuantizeReport rep;
  std::vector<const Imatrix::Entry*> im(in.tensors.size(), nullptr);
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t idx = order[k];
    const Source& s = in.tensors[idx];
    SOV_RETURN_IF_ERROR(w.AddTensor(s.name, static_cast<int32_t>(types[idx]),
                                    std::span<const int64_t>(s.ne.data(), static_cast<size_t>(std::max(s.n_dims, 1)))));
    const DType to = types[idx];
    const bool legacy = to == DType::kQ4_0 || to == DType::kQ4_1 || to == DType::kQ5_0 || to == DType::kQ5_1;
    if (imatrix && legacy && imatrix->entries.count(s.name) != 0) {
      // Only ggml's reference path exists here for these fallback types.
      std::fprintf(stderr, "warning: %s is written as %s without the importance matrix (llama-quantize would "
                   "use it)\n", s.name.c_str(), std::string(Name(to)).c_str());
    } else if (imatrix && to != s.type && IsQuantized(to)) {
      auto it = imatrix->entries.find(s.name);
      if (it != imatrix->entries.end()) {
        const Imatrix::Entry& e = it->second;
        const int64_t slices = s.ne[2] * s.ne[3];
        const int64_t n = e.cols * e.n_mat;
        if (n != s.ne[0] && n != s.ne[0] * slices)
          return absl::InvalidArgumentError(absl::StrCat(
              "imatrix ", opt.imatrix_path, ": entry ", s.name, " has ", n, " values; the tensor needs ",
              s.ne[0], " (or ", s.ne[0] * slices, " for ", slices, " experts)"));
        im[idx] = &e;
        ++rep.imatrix_used;
      }
    }
  }
  if (imatrix) {
    w.SetString("quantize.imatrix.file", opt.imatrix_path);
    if (!imatrix->dataset.empty()) w.SetString("quantize.imatrix.dataset", imatrix->dataset);
    w.SetU32("quantize.imatrix.entries_count", static_cast<uint32_t>(imatrix->entries.size()));
    if (imatrix->chunks > 0) w.SetU32("quantize.imatrix.chunks_count", static_cast<uint32_t>(imatrix->chunks));
  }

  std::optional<tbb::task_arena> arena;
  if (opt.threads > 0) arena.emplace(opt.threads);
  ProgressBar bar(opt.progress, order.size());

  auto produce = [&](size_t k, const GgufTensorSpec& spec, GgufSink& out) -> absl::Status {
    const size_t idx = order[k];
    const Source& s = in.tensors[idx];
    const DType to = types[idx];
    bar.Step(k, s.name, s.type, to);
    ++rep.tensors;
    ++rep.type_counts[std::string(Name(to))];
    rep.bytes_out += spec.nbytes;
    if (to == s.type && s.data != nullptr) {  // same type: the bytes unchanged
      return out.Write(s.data, spec.nbytes);
    }
    ++rep.quantized;
    if (s.rows)
      return WriteGeneratedTensor(s, to, im[idx], arena ? &*arena : nullptr, opt.generated_block_rows, out);
    const std::vector<float> x = SourceF32(s);
    std::vector<uint8_t> dst(spec.nbytes);
    const int64_t cols = s.ne[0], rows_per_slice = s.ne[1], slices = s.ne[2] * s.ne[3];
    const size_t rb = RowBytes(to, cols);
    const Imatrix::Entry* e = im[idx];
    absl::Status status;
    std::mutex mu;
    auto run = [&] {
      for (int64_t sl = 0; sl < slices; ++sl) {
        const float* qw = nullptr;
        if (e != nullptr) qw = e->values.data() + (e->cols * e->n_mat == cols ? 0 : sl * cols);
        const float* src = x.data() + sl * rows_per_slice * cols;
        uint8_t* d = dst.data() + static_cast<size_t>(sl * rows_per_slice) * rb;
        // Row chunks are independent: the bytes do not depend on the split.
        kernels::ParallelFor(rows_per_slice, 16, [&](int64_t r0, int64_t r1) {
          absl::Status st = QuantizeRows(to, src + r0 * cols, r1 - r0, cols, qw, d + r0 * rb);
          if (!st.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            if (status.ok()) status = st;
          }
        });
      }
    };
    if (arena) {
      arena->execute(run);
    } else {
      run();
    }
    if (!status.ok())
      return absl::Status(status.code(), absl::StrCat("tensor ", s.name, ": ", status.message()));
    return out.Write(dst.data(), dst.size());
  };
  SOV_RETURN_IF_ERROR(w.WriteFile(out_path, produce));
  return rep;
}

}  // namespace
}  // namespace sov
