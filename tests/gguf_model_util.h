// Helpers of the GGUF model tests: temporary files, running a model's
// logits, file comparison, and rewriting a GGUF with edits.
#ifndef SOV_TESTS_GGUF_MODEL_UTIL_H_
#define SOV_TESTS_GGUF_MODEL_UTIL_H_

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/convert.h"
#include "runtime/gguf_reader.h"
#include "runtime/gguf_writer.h"
#include "runtime/loader.h"

namespace sov::testing {

// A fresh directory for this process's test files.
inline std::string TmpDir() {
  static const std::string dir = [] {
    std::string d = absl::StrCat(::testing::TempDir(), "/sov_gguf_model_", ::getpid());
    std::string cmd = absl::StrCat("mkdir -p '", d, "'");
    if (std::system(cmd.c_str()) != 0) return std::string("/tmp");
    return d;
  }();
  return dir;
}

inline std::string TmpPath(const std::string& name) { return TmpDir() + "/" + name; }

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline absl::StatusOr<std::vector<float>> ModelLogits(const std::string& path,
                                                      const std::vector<int32_t>& tokens,
                                                      int threads = 1) {
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(path);
  if (!m.ok()) return m.status();
  RunnerOptions ro;
  ro.threads = threads;
  ro.max_tokens = static_cast<int64_t>(tokens.size());
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(**m, ro);
  if (!r.ok()) return r.status();
  return (*r)->Logits(tokens);
}

inline absl::Status Quantize(const std::string& in, const std::string& out, FileType ft,
                             const std::string& imatrix = "", int threads = 0) {
  QuantizeOptions opt;
  opt.ftype = ft;
  opt.imatrix_path = imatrix;
  opt.threads = threads;
  absl::StatusOr<QuantizeReport> r = QuantizeModel(in, out, opt);
  return r.status();
}

// Copies `src` to `dst`. `kv` may edit the metadata (it receives the writer
// after all pairs were copied); `keep` filters tensors; `data` may replace a
// tensor's bytes (return false to keep the original).
struct GgufEdit {
  std::function<void(GgufWriter&)> kv;
  std::function<bool(const GgufTensor&)> keep;
  std::function<bool(const GgufTensor&, std::string* bytes)> data;
};

inline absl::Status RewriteGguf(const std::string& src, const std::string& dst, const GgufEdit& e) {
  absl::StatusOr<std::unique_ptr<GgufReader>> g = GgufReader::Open(src);
  if (!g.ok()) return g.status();
  GgufWriter w;
  for (const GgufKV& kv : (*g)->kvs()) w.CopyKV(kv);
  if (e.kv) e.kv(w);
  std::vector<const GgufTensor*> ts;
  for (const GgufTensor& t : (*g)->tensors()) {
    if (e.keep && !e.keep(t)) continue;
    ts.push_back(&t);
    absl::Status s = w.AddTensor(std::string(t.name), t.type,
                                 std::span<const int64_t>(t.ne.data(), static_cast<size_t>(t.n_dims)));
    if (!s.ok()) return s;
  }
  return w.WriteFile(dst, [&](size_t i, const GgufTensorSpec& spec, GgufSink& out) {
    std::string bytes;
    if (e.data && e.data(*ts[i], &bytes)) return out.Write(bytes.data(), bytes.size());
    return out.Write(ts[i]->data, spec.nbytes);
  });
}

// Mean KL(p_ref || p) over rows of softmax(logits), and the fraction of rows
// whose argmax agrees.
struct Agreement {
  double kl = 0.0;
  double top1 = 0.0;
  double max_abs = 0.0;
  double rel_rms = 0.0;  // RMS(got - ref) / RMS(ref - mean(ref))
};

inline Agreement Compare(const std::vector<float>& ref, const std::vector<float>& got, int64_t V) {
  Agreement a;
  const int64_t T = static_cast<int64_t>(ref.size()) / V;
  double se = 0, sum = 0, sq = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* r = ref.data() + t * V;
    const float* q = got.data() + t * V;
    double mr = r[0], mq = q[0];
    int64_t ar = 0, aq = 0;
    for (int64_t v = 1; v < V; ++v) {
      if (r[v] > mr) mr = r[v], ar = v;
      if (q[v] > mq) mq = q[v], aq = v;
    }
    double zr = 0, zq = 0;
    for (int64_t v = 0; v < V; ++v) {
      zr += std::exp(r[v] - mr);
      zq += std::exp(q[v] - mq);
      a.max_abs = std::max(a.max_abs, std::fabs(static_cast<double>(r[v]) - q[v]));
    }
    double kl = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double lp = r[v] - mr - std::log(zr);
      const double lq = q[v] - mq - std::log(zq);
      kl += std::exp(lp) * (lp - lq);
    }
    a.kl += kl / static_cast<double>(T);
    for (int64_t v = 0; v < V; ++v) {
      se += (static_cast<double>(q[v]) - r[v]) * (static_cast<double>(q[v]) - r[v]);
      sum += r[v];
      sq += static_cast<double>(r[v]) * r[v];
    }
    a.top1 += (ar == aq ? 1.0 : 0.0) / static_cast<double>(T);
  }
  const double n = static_cast<double>(ref.size());
  const double var = sq / n - (sum / n) * (sum / n);
  a.rel_rms = var > 0 ? std::sqrt(se / n / var) : 0.0;
  return a;
}

}  // namespace sov::testing

#endif  // SOV_TESTS_GGUF_MODEL_UTIL_H_
