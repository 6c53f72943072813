// `sov quantize` on the fixtures: the llama-quantize mix on a model whose
// rows are multiples of 256, quantized logits against the f32 path over the
// dequantized weights, byte-identical re-writes, importance matrices (GGUF and
// legacy), the CLI, and the accuracy table of papers/quant_accuracy.md.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/api.h"
#include "quant/quantize.h"
#include "runtime/gguf_model.h"
#include "tests/gemma4_fixture.h"
#include "tests/gguf_model_util.h"

namespace sov {
namespace {

using testing::FixtureDir;
using testing::TmpPath;

struct Mix {
  FileType ft;
  const char* name;
};
constexpr Mix kMixes[] = {{FileType::kQ8_0, "Q8_0"}, {FileType::kQ5_K_M, "Q5_K_M"}, {FileType::kQ4_K_M, "Q4_K_M"}};

std::string TypeOf(const GgufReader& r, const std::string& name) {
  const GgufTensor* t = r.FindTensor(name);
  return t ? GgmlTypeName(t->type) : "absent";
}

TEST(QuantizeMix, KQuantsOnRowsOf256) {
  const std::string p = TmpPath("kq.q4km.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir("kquant_style"), p, FileType::kQ4_K_M).ok());
  absl::StatusOr<std::unique_ptr<GgufReader>> g = GgufReader::Open(p);
  ASSERT_TRUE(g.ok()) << g.status();
  const GgufReader& r = **g;
  // Tied embedding -> Q6_K; one layer: use_more_bits(0, 1) holds, so attn_v
  // and ffn_down get Q6_K; the rest the Q4_K default; norms stay f32.
  EXPECT_EQ(TypeOf(r, "token_embd.weight"), "q6_K");
  EXPECT_EQ(TypeOf(r, "blk.0.attn_v.weight"), "q6_K");
  EXPECT_EQ(TypeOf(r, "blk.0.ffn_down.weight"), "q6_K");
  EXPECT_EQ(TypeOf(r, "blk.0.attn_q.weight"), "q4_K");
  EXPECT_EQ(TypeOf(r, "blk.0.attn_k.weight"), "q4_K");
  EXPECT_EQ(TypeOf(r, "blk.0.attn_output.weight"), "q4_K");
  EXPECT_EQ(TypeOf(r, "blk.0.ffn_gate.weight"), "q4_K");
  EXPECT_EQ(TypeOf(r, "blk.0.ffn_up.weight"), "q4_K");
  EXPECT_EQ(TypeOf(r, "blk.0.attn_norm.weight"), "f32");
  EXPECT_EQ(TypeOf(r, "rope_freqs.weight"), "f32");
  EXPECT_EQ(r.GetU32("general.file_type").value(), 15u);
  EXPECT_EQ(r.GetU32("general.quantization_version").value(), 2u);

  const std::string p5 = TmpPath("kq.q5km.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir("kquant_style"), p5, FileType::kQ5_K_M).ok());
  absl::StatusOr<std::unique_ptr<GgufReader>> g5 = GgufReader::Open(p5);
  ASSERT_TRUE(g5.ok());
  EXPECT_EQ(TypeOf(**g5, "blk.0.attn_q.weight"), "q5_K");
  EXPECT_EQ(TypeOf(**g5, "blk.0.ffn_down.weight"), "q6_K");
}

// A quantized GGUF against the same model with every weight dequantized to
// f32 once (sov quantize --type F32 of the quantized file) run on the f32
// path: the kernels dequantize rows exactly as DequantizeRow does, so only
// the summation order may differ.
TEST(QuantizeParity, QuantizedMatchesDequantizedF32) {
  // Both models through the same arithmetic: the dequantize-to-f32 MatMul
  // path. (The default integer path quantizes activations for quantized
  // weights only, so it would differ from the F32 file by that rounding.)
  kernels::SetQuantMatMulMode(kernels::QuantMatMulMode::kDequantF32);
  struct Restore {
    ~Restore() { kernels::SetQuantMatMulMode(kernels::QuantMatMulMode::kInteger); }
  } restore;
  absl::StatusOr<testing::Cases> c = testing::LoadCases("kquant_style");
  ASSERT_TRUE(c.ok()) << c.status();
  for (const Mix& m : kMixes) {
    SCOPED_TRACE(m.name);
    const std::string q = TmpPath(std::string("kq.par.") + m.name + ".gguf");
    const std::string deq = TmpPath(std::string("kq.par.") + m.name + ".deq.gguf");
    ASSERT_TRUE(testing::Quantize(FixtureDir("kquant_style"), q, m.ft).ok());
    ASSERT_TRUE(testing::Quantize(q, deq, FileType::kF32).ok());
    absl::StatusOr<std::vector<float>> lq = testing::ModelLogits(q, c->tokens);
    absl::StatusOr<std::vector<float>> ld = testing::ModelLogits(deq, c->tokens);
    ASSERT_TRUE(lq.ok() && ld.ok()) << lq.status() << ld.status();
    const double d = testing::MaxAbsDiff(lq->data(), ld->data(), lq->size());
    const double vs_fp32 = testing::MaxAbsDiff(lq->data(), c->logits.data(), lq->size());
    std::printf("[kquant_style %s] quantized vs dequantized-f32: max |dlogit| %.3g; vs fp32 %.3g\n", m.name,
                d, vs_fp32);
    EXPECT_LE(d, 1e-4);
    // The quantization must actually have changed the model.
    EXPECT_GT(vs_fp32, 1e-3);
  }
}

TEST(QuantizeParity, SameTypeRewriteIsByteIdentical) {
  for (const Mix& m : kMixes) {
    SCOPED_TRACE(m.name);
    const std::string a = TmpPath(std::string("kq.same.") + m.name + ".gguf");
    const std::string b = TmpPath(std::string("kq.same.") + m.name + ".again.gguf");
    ASSERT_TRUE(testing::Quantize(FixtureDir("kquant_style"), a, m.ft).ok());
    ASSERT_TRUE(testing::Quantize(a, b, m.ft).ok());
    EXPECT_TRUE(testing::ReadAll(a) == testing::ReadAll(b));
  }
}

// ---- Importance matrices --------------------------------------------------------------

std::vector<float> Importance(int64_t cols) {
  std::vector<float> v(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) v[i] = static_cast<float>(1 + (i * 7) % 13);
  return v;
}

TEST(QuantizeImatrix, GgufAndLegacyFilesSteerKQuants) {
  const int64_t H = 256;
  const std::string weight = "blk.0.attn_q.weight";
  const std::vector<float> imp = Importance(H);
  // GGUF imatrix: in_sum2 = 4 * importance, counts = 4.
  GgufWriter w;
  w.SetString("general.type", "imatrix");
  w.SetStringArray("imatrix.datasets", std::vector<std::string>{"calib.txt"});
  w.SetU32("imatrix.chunk_count", 3);
  w.SetU32("imatrix.chunk_size", 512);
  ASSERT_TRUE(w.AddTensor(weight + ".in_sum2", DType::kF32, {H, 1}).ok());
  ASSERT_TRUE(w.AddTensor(weight + ".counts", DType::kF32, {1, 1}).ok());
  std::vector<float> sums(imp);
  for (float& s : sums) s *= 4.0f;
  const float count = 4.0f;
  const std::string im_gguf = TmpPath("kq.imatrix.gguf");
  ASSERT_TRUE(w.WriteFile(im_gguf, [&](size_t i, const GgufTensorSpec& s, GgufSink& out) {
                 return i == 0 ? out.Write(sums.data(), s.nbytes) : out.Write(&count, 4);
               }).ok());
  // Legacy: ncall 2, values 2 * importance.
  const std::string im_dat = TmpPath("kq.imatrix.dat");
  {
    std::ofstream f(im_dat, std::ios::binary);
    auto i32 = [&](int32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
    i32(1);
    i32(static_cast<int32_t>(weight.size()));
    f.write(weight.data(), static_cast<std::streamsize>(weight.size()));
    i32(2);
    i32(static_cast<int32_t>(H));
    for (float x : imp) {
      const float y = 2.0f * x;
      f.write(reinterpret_cast<const char*>(&y), 4);
    }
  }

  const std::string plain = TmpPath("kq.noim.gguf"), with = TmpPath("kq.im.gguf"), legacy = TmpPath("kq.imdat.gguf");
  ASSERT_TRUE(testing::Quantize(FixtureDir("kquant_style"), plain, FileType::kQ4_K_M).ok());
  absl::Status s = testing::Quantize(FixtureDir("kquant_style"), with, FileType::kQ4_K_M, im_gguf);
  ASSERT_TRUE(s.ok()) << s;
  s = testing::Quantize(FixtureDir("kquant_style"), legacy, FileType::kQ4_K_M, im_dat);
  ASSERT_TRUE(s.ok()) << s;

  absl::StatusOr<std::unique_ptr<GgufReader>> gp = GgufReader::Open(plain);
  absl::StatusOr<std::unique_ptr<GgufReader>> gw = GgufReader::Open(with);
  absl::StatusOr<std::unique_ptr<GgufReader>> gl = GgufReader::Open(legacy);
  ASSERT_TRUE(gp.ok() && gw.ok() && gl.ok());
  EXPECT_EQ((*gw)->GetString("quantize.imatrix.file").value(), im_gguf);
  EXPECT_EQ((*gw)->GetString("quantize.imatrix.dataset").value(), "calib.txt");
  EXPECT_EQ((*gw)->GetU32("quantize.imatrix.entries_count").value(), 1u);
  EXPECT_EQ((*gw)->GetU32("quantize.imatrix.chunks_count").value(), 3u);

  // Expected bytes: the HF weight quantized with the importance vector.
  absl::StatusOr<SafetensorsReader> st = SafetensorsReader::Open(FixtureDir("kquant_style"));
  ASSERT_TRUE(st.ok());
  const SafetensorsTensor* q = st->Find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(q->dtype_name, "F32");
  const int64_t rows = q->shape[0];
  std::vector<float> x(static_cast<size_t>(rows * H));
  std::memcpy(x.data(), q->data, x.size() * 4);
  std::string want(RowBytes(DType::kQ4_K, H) * rows, '\0');
  ASSERT_TRUE(QuantizeRows(DType::kQ4_K, x.data(), rows, H, imp.data(), want.data()).ok());
  auto bytes = [&](const GgufReader& r) {
    const GgufTensor* t = r.FindTensor(weight);
    return t ? std::string(reinterpret_cast<const char*>(t->data), t->nbytes) : std::string();
  };
  EXPECT_TRUE(bytes(**gw) == want);
  EXPECT_TRUE(bytes(**gl) == want);
  EXPECT_FALSE(bytes(**gp) == want);
  // Tensors without an entry are unchanged by the imatrix.
  const GgufTensor* k1 = (*gp)->FindTensor("blk.0.attn_k.weight");
  const GgufTensor* k2 = (*gw)->FindTensor("blk.0.attn_k.weight");
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(std::memcmp(k1->data, k2->data, k1->nbytes), 0);
}

TEST(QuantizeImatrix, WrongSizeIsAnError) {
  GgufWriter w;
  w.SetStringArray("imatrix.datasets", std::vector<std::string>{"x"});
  ASSERT_TRUE(w.AddTensor("blk.0.attn_q.weight.in_sum2", DType::kF32, {128, 1}).ok());
  ASSERT_TRUE(w.AddTensor("blk.0.attn_q.weight.counts", DType::kF32, {1, 1}).ok());
  const std::string p = TmpPath("bad.imatrix.gguf");
  std::vector<float> z(128, 1.0f);
  ASSERT_TRUE(w.WriteFile(p, [&](size_t, const GgufTensorSpec& s, GgufSink& out) {
                 return out.Write(z.data(), s.nbytes);
               }).ok());
  absl::Status s = testing::Quantize(FixtureDir("kquant_style"), TmpPath("bad.out.gguf"), FileType::kQ4_K_M, p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("blk.0.attn_q.weight"), std::string::npos) << s;
}

// ---- Tokenizer ----------------------------------------------------------------------------

TEST(QuantizeTokenizer, FromHfTokenizerJsonAndCarriedOverFromGguf) {
  // A copy of the fixture directory with a small BPE tokenizer.json.
  const std::string dir = TmpPath("tok_fixture");
  ASSERT_EQ(std::system(("mkdir -p " + dir + " && cp " + FixtureDir("dense_style") + "/config.json " + dir +
                         " && ln -sf " + FixtureDir("dense_style") + "/model.safetensors " + dir)
                            .c_str()),
            0);
  std::ofstream(dir + "/tokenizer.json") << R"({
    "model": {"type": "BPE", "byte_fallback": true,
              "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "a": 4, "b": 5, "ab": 6, "\u2581": 7},
              "merges": ["a b"]},
    "added_tokens": [
      {"id": 0, "content": "<pad>", "special": true}, {"id": 1, "content": "<eos>", "special": true},
      {"id": 2, "content": "<bos>", "special": true}, {"id": 3, "content": "<unk>", "special": true}]
  })";
  const std::string a = TmpPath("tok.f32.gguf");
  absl::Status s = testing::Quantize(dir, a, FileType::kF32);
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<std::unique_ptr<GgufReader>> g = GgufReader::Open(a);
  ASSERT_TRUE(g.ok());
  const GgufReader& r = **g;
  EXPECT_EQ(r.GetString("tokenizer.ggml.model").value(), "gemma4");
  absl::StatusOr<std::span<const std::string_view>> toks = r.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(toks.ok());
  ASSERT_EQ(toks->size(), 256u);  // padded to the embedding's rows
  EXPECT_EQ((*toks)[6], "ab");
  EXPECT_EQ((*toks)[200], "[PAD200]");
  EXPECT_EQ(r.GetI32Array("tokenizer.ggml.token_type").value()[2], 3);    // control
  EXPECT_EQ(r.GetI32Array("tokenizer.ggml.token_type").value()[4], 1);    // normal
  EXPECT_EQ(r.GetI32Array("tokenizer.ggml.token_type").value()[200], 5);  // unused
  EXPECT_EQ(r.GetStringArray("tokenizer.ggml.merges").value().size(), 1u);
  EXPECT_EQ(r.GetU32("tokenizer.ggml.bos_token_id").value(), 2u);
  EXPECT_EQ(r.GetU32("tokenizer.ggml.eos_token_id").value(), 1u);
  EXPECT_EQ(r.GetBool("tokenizer.ggml.add_bos_token").value(), true);
  // GGUF -> GGUF keeps every tokenizer key, in place.
  const std::string b = TmpPath("tok.bf16.gguf");
  ASSERT_TRUE(testing::Quantize(a, b, FileType::kBF16).ok());
  absl::StatusOr<std::unique_ptr<GgufReader>> g2 = GgufReader::Open(b);
  ASSERT_TRUE(g2.ok());
  size_t j = 0;
  for (const GgufKV& kv : r.kvs()) {
    if (kv.key.rfind("tokenizer.", 0) != 0) continue;
    while (j < (*g2)->kvs().size() && (*g2)->kvs()[j].key != kv.key) ++j;
    ASSERT_LT(j, (*g2)->kvs().size()) << kv.key;
  }
  EXPECT_EQ((*g2)->GetStringArray("tokenizer.ggml.tokens").value().size(), 256u);
  EXPECT_EQ((*g2)->GetU32("general.file_type").value(), 32u);
}

// ---- CLI ----------------------------------------------------------------------------

int RunSov(const std::string& args, std::string* out = nullptr) {
  const std::string log = TmpPath("cli.log");
  const std::string cmd = std::string(SOV_BIN_PATH) + " " + args + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (out) *out = testing::ReadAll(log);
  return rc;
}

TEST(QuantizeCli, ThreadsAtomicLogits) {
  const std::string in = FixtureDir("kquant_style");
  const std::string a = TmpPath("cli.t1.gguf"), b = TmpPath("cli.t2.gguf");
  std::string log;
  ASSERT_EQ(RunSov("quantize " + in + " " + a + " --type q4_k_m --threads 1", &log), 0) << log;
  EXPECT_NE(log.find("q4_K"), std::string::npos) << log;  // progress / summary on stderr
  ASSERT_EQ(RunSov("quantize " + in + " " + b + " --type Q4_K_M --threads 2 --quiet", &log), 0) << log;
  EXPECT_TRUE(testing::ReadAll(a) == testing::ReadAll(b));
  EXPECT_FALSE(std::ifstream(a + ".tmp").good());
  ASSERT_EQ(RunSov("logits -m " + a + " --tokens 2,5,7 -o " + TmpPath("cli.npy"), &log), 0) << log;
  EXPECT_GT(testing::ReadAll(TmpPath("cli.npy")).size(), 3u * 256u * 4u);
  ASSERT_EQ(RunSov("plan -m " + a, &log), 0) << log;

  EXPECT_NE(RunSov("quantize " + in + " " + TmpPath("x.gguf") + " --type q3_k", &log), 0);
  EXPECT_NE(log.find("q3_k"), std::string::npos) << log;
  EXPECT_NE(RunSov("quantize " + in + "/nope " + TmpPath("x.gguf") + " --type f32", &log), 0);
  EXPECT_FALSE(std::ifstream(TmpPath("x.gguf")).good());
}

// ---- Accuracy against fp32 (papers/quant_accuracy.md) ------------------------------------

TEST(QuantAccuracy, KlAndTop1AgainstFp32) {
  std::vector<std::string> fixtures = testing::FixtureNames();
  fixtures.push_back("kquant_style");
  std::string table =
      "| fixture | H | type | KL(fp32 ‖ quant), mean over positions | top-1 agreement | max \\|Δlogit\\| | "
      "RMS Δlogit / std(logit) | file MiB |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const std::string& f : fixtures) {
    absl::StatusOr<testing::Cases> c = testing::LoadCases(f);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::vector<float>> ref = testing::ModelLogits(FixtureDir(f), c->tokens);
    ASSERT_TRUE(ref.ok());
    for (const Mix& m : kMixes) {
      const std::string p = TmpPath(f + ".acc." + m.name + ".gguf");
      absl::Status s = testing::Quantize(FixtureDir(f), p, m.ft);
      if (!s.ok()) {
        absl::StrAppend(&table, "| ", f, " | ", c->H, " | ", m.name, " | not written: ", s.message(),
                        " | | | | |\n");
        continue;
      }
      absl::StatusOr<std::vector<float>> q = testing::ModelLogits(p, c->tokens);
      ASSERT_TRUE(q.ok()) << q.status();
      const testing::Agreement a = testing::Compare(*ref, *q, c->V);
      char line[256];
      std::snprintf(line, sizeof(line), "| %s | %lld | %s | %.3g | %.3f | %.3g | %.3g | %.3f |\n", f.c_str(),
                    static_cast<long long>(c->H), m.name, a.kl, a.top1, a.max_abs, a.rel_rms,
                    static_cast<double>(testing::ReadAll(p).size()) / (1024.0 * 1024.0));
      table += line;
      if (f == "kquant_style") {
        // Bounds with a wide margin: random weights have no outliers, and
        // 8-bit blocks keep the logits within a few 1e-2.
        if (m.ft == FileType::kQ8_0) {
          EXPECT_LT(a.kl, 1e-3);
          EXPECT_GE(a.top1, 0.9);
          EXPECT_LT(a.rel_rms, 0.05);
        }
        EXPECT_LT(a.kl, 0.1) << m.name;
        EXPECT_LT(a.rel_rms, 0.5) << m.name;  // a wrong layout would give ~1.4 (uncorrelated logits)
      }
    }
  }
  std::printf("%s", table.c_str());
  if (const char* out = std::getenv("SOV_QUANT_ACCURACY_TABLE")) {
    std::ofstream(out) << table;
  }
}

}  // namespace
}  // namespace sov
