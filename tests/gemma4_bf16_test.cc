// The bf16-weight path: every weight rounded to bf16 at load (matrices kept
// as bf16 for the kernels), activations in f32.
//
// Tolerances:
//  * Against an f32 run of the SAME bf16-rounded weights (a rewritten copy of
//    the checkpoint, values exactly representable in bf16): both runs see the
//    same numbers, only the MatMul kernel's weight type differs (bf16 rows
//    are widened to f32 before the same fixed-order accumulation), so the
//    fp32 parity bound applies: 1e-4.
//  * Against the NumPy reference (float64) on the rounded copy, when the
//    venv exists: the fp32-vs-exact bound, 1e-4.
//  * Against the f32 transformers fixture (original weights): the rounding of
//    each weight is a relative perturbation of at most 2^-9. A layer maps a
//    relative input perturbation e to roughly e + 2^-9 (its own weights), so
//    after L layers plus the tied head the logits move by at most about
//    (L + 1) * 2^-9 * c * max|logit|; c (sum of |terms| over |sum|) is O(1)
//    for these normed layers — we allow c = 4 and print the observed value.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quant/float16.h"
#include "runtime/loader.h"
#include "runtime/safetensors.h"
#include "runtime/safetensors_writer.h"
#include "tests/gemma4_fixture.h"

namespace sov {
namespace {

namespace fs = std::filesystem;
using testing::MaxAbs;
using testing::MaxAbsDiff;

absl::StatusOr<std::vector<float>> RunLogits(const std::string& dir, bool bf16,
                                             const std::vector<int32_t>& tokens) {
  LoadOptions lo;
  lo.bf16_weights = bf16;
  absl::StatusOr<std::unique_ptr<Gemma4Model>> m = LoadGemma4(dir, lo);
  if (!m.ok()) return m.status();
  RunnerOptions ro;
  ro.threads = 1;
  ro.max_tokens = static_cast<int64_t>(tokens.size());
  absl::StatusOr<std::unique_ptr<Gemma4Runner>> r = Gemma4Runner::Create(**m, ro);
  if (!r.ok()) return r.status();
  return (*r)->Logits(tokens);
}

// Copies `src` (config.json + model.safetensors) to `dst` with every F32
// tensor rounded to the nearest bf16 value but still stored as F32.
void WriteRoundedCopy(const std::string& src, const std::string& dst) {
  fs::create_directories(dst);
  fs::copy_file(src + "/config.json", dst + "/config.json", fs::copy_options::overwrite_existing);
  absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(src + "/model.safetensors");
  ASSERT_TRUE(r.ok()) << r.status();
  SafetensorsWriter w;
  for (const std::string& n : r->names()) {
    const SafetensorsTensor* t = r->Find(n);
    ASSERT_EQ(t->dtype_name, "F32") << n;
    std::vector<float> v(static_cast<size_t>(t->numel()));
    std::memcpy(v.data(), t->data, v.size() * 4);
    for (float& x : v) x = Bf16ToFp32(Fp32ToBf16(x));
    ASSERT_TRUE(w.AddF32(n, t->shape, v).ok());
  }
  ASSERT_TRUE(w.WriteFile(dst + "/model.safetensors").ok());
}

std::vector<float> ReadNpyF32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (s.size() < 10) return {};
  const size_t hlen = static_cast<uint8_t>(s[8]) | (static_cast<uint8_t>(s[9]) << 8);
  const size_t off = 10 + hlen;
  std::vector<float> v((s.size() - off) / 4);
  std::memcpy(v.data(), s.data() + off, v.size() * 4);
  return v;
}

class Gemma4Bf16 : public ::testing::TestWithParam<std::string> {};

TEST_P(Gemma4Bf16, MatchesRoundedF32AndStaysNearFixture) {
  const std::string name = GetParam();
  if (!testing::FixtureExists(name)) GTEST_SKIP() << "fixture absent";
  absl::StatusOr<testing::Cases> c = testing::LoadCases(name);
  ASSERT_TRUE(c.ok()) << c.status();

  const fs::path tmp = fs::temp_directory_path() /
                       ("sov_gemma4_bf16_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(tmp);
  const std::string rounded = (tmp / "rounded").string();
  WriteRoundedCopy(testing::FixtureDir(name), rounded);

  absl::StatusOr<std::vector<float>> bf = RunLogits(testing::FixtureDir(name), true, c->tokens);
  ASSERT_TRUE(bf.ok()) << bf.status();
  absl::StatusOr<std::vector<float>> f32r = RunLogits(rounded, false, c->tokens);
  ASSERT_TRUE(f32r.ok()) << f32r.status();
  ASSERT_EQ(bf->size(), c->logits.size());

  const double d_same = MaxAbsDiff(bf->data(), f32r->data(), bf->size());
  EXPECT_LE(d_same, 1e-4);

  // The NumPy reference on the same rounded weights, when Python is set up.
  const std::string py = std::string(SOV_SOURCE_DIR) + "/build/venv/bin/python";
  double d_ref = -1.0;
  if (fs::exists(py)) {
    std::string toks;
    for (size_t i = 0; i < c->tokens.size(); ++i) toks += (i ? "," : "") + std::to_string(c->tokens[i]);
    const std::string out = (tmp / "ref.npy").string();
    const std::string cmd = "cd " + std::string(SOV_SOURCE_DIR) + "/python_ref && " + py +
                            " -m sov_ref " + rounded + " --tokens " + toks + " -o " + out +
                            " --dtype float64 > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) {
      std::vector<float> ref = ReadNpyF32(out);
      ASSERT_EQ(ref.size(), bf->size());
      d_ref = MaxAbsDiff(bf->data(), ref.data(), ref.size());
      EXPECT_LE(d_ref, 1e-4);
    }
  }

  const double d_fixture = MaxAbsDiff(bf->data(), c->logits.data(), bf->size());
  const double bound = 4.0 * static_cast<double>(c->L + 1) * std::ldexp(1.0, -9) *
                       MaxAbs(c->logits.data(), c->logits.size());
  std::printf("[%s] bf16 weights: vs rounded-f32 %.3g, vs NumPy(rounded) %.3g, vs f32 fixture "
              "%.3g (bound %.3g)\n",
              name.c_str(), d_same, d_ref, d_fixture, bound);
  EXPECT_LE(d_fixture, bound);
  EXPECT_GT(d_fixture, 0.0);  // the rounding really happened
  fs::remove_all(tmp);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma4Bf16, ::testing::ValuesIn(testing::FixtureNames()));

}  // namespace
}  // namespace sov
