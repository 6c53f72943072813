// `sov quantize-tensor` end to end: the §14.4 matrix through the binary must
// give the spec's SHA-256 digests, and bad inputs must give clear errors.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quant/testing/sha256.h"
#include "quant/testing/spec_data.h"

namespace sov {
namespace {

namespace fs = std::filesystem;

class QuantizeTensorCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sov_qt_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    WriteFloats("x.f32", testing::SpecMatrix());
    WriteFloats("w.f32", testing::SpecImatrix());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void WriteFloats(const std::string& name, const std::vector<float>& v) {
    std::ofstream f(Path(name), std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  }

  // Runs the binary; returns the exit status and fills `err` with stderr.
  int Run(const std::string& args, std::string* err) {
    const std::string err_path = Path("stderr.txt");
    const std::string cmd = std::string(SOV_BIN_PATH) + " quantize-tensor " + args + " 2> " + err_path;
    const int rc = std::system(cmd.c_str());
    std::ifstream f(err_path);
    err->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  std::string Digest(const std::string& name) {
    std::ifstream f(Path(name), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return sov::testing::Sha256Hex(bytes.data(), bytes.size());
  }

  fs::path dir_;
};

TEST_F(QuantizeTensorCli, SpecMatrixDigests) {
  struct Case {
    const char* type;
    bool imatrix;
    const char* sha256;
  };
  const Case cases[] = {
      {"q8_0", false, "cb6a7de8302a7d992baf8e3457fa414a00829d5a2813156d8e411b03a145a8ff"},
      {"q8_0", true, "cb6a7de8302a7d992baf8e3457fa414a00829d5a2813156d8e411b03a145a8ff"},
      {"q4_K", false, "1319e4adc33a29ae3a96a6eac610bb6862ec8ef84c99c7ab51f0a7946dbc2f1a"},
      {"q4_K", true, "10d9efb6d85699ed128119549e06d0af3b3c3c3bc012aa2a631bc3a8c73ada66"},
      {"q5_K", false, "1b87f764e10626de1c1068b43b0409c52189ff58769db699197d733c5a432866"},
      {"q5_K", true, "fe80a66e0d856f094700d9ef83fb0d349f4b989fd3b0a542d22bac0260a5ece6"},
      {"q6_K", false, "ada4c6d793bc82a0c07aaf95347fab8064035867c55ed213a52fab993efa1f03"},
      {"q6_K", true, "d677351062434c7a376e538d8630d5f0e5457ac1baf6b226677966f4fda6c1f7"},
  };
  for (const Case& c : cases) {
    std::string err;
    const std::string args = std::string("--type ") + c.type + " --rows 4 --cols 512 --in " + Path("x.f32") +
                             (c.imatrix ? " --imatrix " + Path("w.f32") : "") + " --out " + Path("out.bin");
    ASSERT_EQ(Run(args, &err), 0) << args << "\n" << err;
    EXPECT_EQ(Digest("out.bin"), c.sha256) << c.type << (c.imatrix ? " imatrix" : "");
  }
  // Nothing but the output is left behind (the temporary file was renamed).
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.path().filename().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(files, 0);
}

TEST_F(QuantizeTensorCli, ClearErrors) {
  struct Case {
    std::string args;
    std::string message;  // a fragment the error must contain
  };
  WriteFloats("nan.f32", std::vector<float>(512, NAN));
  const std::string x = " --in " + Path("x.f32"), out = " --out " + Path("bad.bin");
  const Case cases[] = {
      {"--type q4_K --rows 5 --cols 512" + x + out, "too short"},
      {"--type q4_K --rows 3 --cols 512" + x + out, "too long"},
      {"--type q4_K --rows 2 --cols 256" + x + out, "8192 bytes; expected 2048"},
      {"--type q4_K --rows 2 --cols 1024 --imatrix " + Path("x.f32") + x + out, "--imatrix"},
      {"--type q4_K --rows 4 --cols 512 --imatrix " + Path("nan.f32") + x + out, "finite"},
      {"--type q6_K --rows 16 --cols 128" + x + out, "multiple of the q6_K block size 256"},
      {"--type q8_0 --rows 64 --cols 33" + x + out, "block size 32"},
      {"--type q3_K --rows 4 --cols 512" + x + out, "unknown --type"},
      {"--type q4_K --rows 4 --cols 512 --in " + Path("missing.f32") + out, "missing.f32"},
      {"--type q4_K --rows 4 --cols 512" + x, "--out"},
      {"--type q4_K --rows four --cols 512" + x + out, "integer"},
      {"--type q4_K --rows 4 --cols 512 --thread 3" + x + out, "unknown flag --thread"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_EQ(Run(c.args, &err), 1) << c.args;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.args << "\nstderr: " << err;
    EXPECT_FALSE(fs::exists(Path("bad.bin"))) << c.args;
  }
}

}  // namespace
}  // namespace sov
