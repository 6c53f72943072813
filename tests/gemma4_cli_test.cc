// `sov logits|run|plan` on a fixture and on malformed copies of it: exit code
// and a message naming the file, tensor or value at fault.
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/safetensors.h"
#include "runtime/safetensors_writer.h"
#include "tests/gemma4_fixture.h"

namespace sov {
namespace {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out;  // stdout + stderr
};

Result Sov(const std::string& args) {
  Result r;
  const std::string cmd = std::string(SOV_BIN_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return r;
}

std::string Join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

class Gemma4Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::FixtureExists(kFixture)) GTEST_SKIP() << "fixture absent";
    absl::StatusOr<testing::Cases> c = testing::LoadCases(kFixture);
    ASSERT_TRUE(c.ok()) << c.status();
    cases_ = *std::move(c);
    tmp_ = fs::temp_directory_path() /
           ("sov_gemma4_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  // A writable copy of the fixture model in tmp_/name.
  std::string CopyModel(const std::string& name) {
    const fs::path d = tmp_ / name;
    fs::create_directories(d);
    fs::copy_file(testing::FixtureDir(kFixture) + "/config.json", d / "config.json");
    fs::copy_file(testing::FixtureDir(kFixture) + "/model.safetensors", d / "model.safetensors");
    return d.string();
  }

  // Rewrites dir/model.safetensors without `drop`, or with `reshape` given a
  // different (smaller) shape.
  void RewriteCheckpoint(const std::string& dir, const std::string& drop,
                         const std::string& reshape) {
    absl::StatusOr<SafetensorsReader> r = SafetensorsReader::Open(dir + "/model.safetensors");
    ASSERT_TRUE(r.ok()) << r.status();
    SafetensorsWriter w;
    for (const std::string& n : r->names()) {
      if (n == drop) continue;
      const SafetensorsTensor* t = r->Find(n);
      std::vector<int64_t> shape = t->shape;
      std::string bytes(reinterpret_cast<const char*>(t->data), t->nbytes);
      if (n == reshape) {  // drop the last row: [out, in] -> [out - 1, in]
        shape[0] -= 1;
        bytes.resize(bytes.size() - static_cast<size_t>(shape[1]) * t->element_size);
      }
      ASSERT_TRUE(w.Add(n, t->dtype_name, shape, bytes).ok());
    }
    const std::string path = dir + "/model.safetensors";
    ASSERT_TRUE(w.WriteFile(path + ".new").ok());
    fs::rename(path + ".new", path);
  }

  static constexpr const char* kFixture = "e_style";
  testing::Cases cases_;
  fs::path tmp_;
};

TEST_F(Gemma4Cli, LogitsWritesNpy) {
  const std::string out = (tmp_ / "logits.npy").string();
  Result r = Sov("logits -m " + testing::FixtureDir(kFixture) + " --tokens " + Join(cases_.tokens) +
                 " -o " + out + " --threads 2");
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string npy = ReadAll(out);
  ASSERT_GT(npy.size(), 10u);
  EXPECT_EQ(npy.substr(0, 6), std::string("\x93NUMPY"));
  EXPECT_EQ(npy[6], 1);
  EXPECT_EQ(npy[7], 0);
  const size_t hlen = static_cast<uint8_t>(npy[8]) | (static_cast<uint8_t>(npy[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  const std::string header = npy.substr(10, hlen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (" + std::to_string(cases_.T) + ", " + std::to_string(cases_.V) +
                        ")"),
            std::string::npos)
      << header;
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(npy.size(), 10 + hlen + cases_.logits.size() * 4);
  std::vector<float> got(cases_.logits.size());
  std::memcpy(got.data(), npy.data() + 10 + hlen, got.size() * 4);
  EXPECT_LE(testing::MaxAbsDiff(got.data(), cases_.logits.data(), got.size()), 1e-4);
}

TEST_F(Gemma4Cli, RunAndPlan) {
  Result r = Sov("run -m " + testing::FixtureDir(kFixture) + " --tokens 2,17,33 -n 5");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::vector<int32_t> ids;
  std::stringstream ss(r.out);
  std::string item;
  while (std::getline(ss, item, ',')) ids.push_back(std::stoi(item));
  ASSERT_EQ(ids.size(), 5u) << r.out;
  for (int32_t id : ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, cases_.V);
  }
  // Greedy decoding is deterministic.
  EXPECT_EQ(Sov("run -m " + testing::FixtureDir(kFixture) + " --tokens 2,17,33 -n 5").out, r.out);

  Result p = Sov("plan -m " + testing::FixtureDir(kFixture) + " --tokens 8 --dump");
  ASSERT_EQ(p.rc, 0) << p.out;
  EXPECT_NE(p.out.find("attn_q"), std::string::npos);
  EXPECT_GT(std::count(p.out.begin(), p.out.end(), '\n'), 50);
}

TEST_F(Gemma4Cli, BadModelDirectories) {
  const std::string toks = " --tokens 2,3 -o " + (tmp_ / "x.npy").string();
  Result r = Sov("logits -m " + (tmp_ / "nope").string() + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("nope"), std::string::npos) << r.out;

  const std::string no_cfg = CopyModel("no_cfg");
  fs::remove(no_cfg + "/config.json");
  r = Sov("logits -m " + no_cfg + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("config.json"), std::string::npos) << r.out;

  const std::string llama = CopyModel("llama");
  std::string cfg = ReadAll(llama + "/config.json");
  const size_t at = cfg.find("\"gemma4_text\"");
  ASSERT_NE(at, std::string::npos);
  cfg.replace(at, std::strlen("\"gemma4_text\""), "\"llama\"");
  WriteAll(llama + "/config.json", cfg);
  r = Sov("logits -m " + llama + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("llama"), std::string::npos) << r.out;
}

TEST_F(Gemma4Cli, BadCheckpoints) {
  const std::string toks = " --tokens 2,3 -o " + (tmp_ / "x.npy").string();
  const std::string trunc = CopyModel("trunc");
  const std::string st = ReadAll(trunc + "/model.safetensors");
  WriteAll(trunc + "/model.safetensors", st.substr(0, st.size() / 2));
  Result r = Sov("logits -m " + trunc + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;

  const std::string garbage = CopyModel("garbage");
  WriteAll(garbage + "/model.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{{{", 11));
  r = Sov("logits -m " + garbage + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;

  const std::string q = "model.layers.1.self_attn.q_proj.weight";
  const std::string missing = CopyModel("missing");
  RewriteCheckpoint(missing, q, "");
  r = Sov("logits -m " + missing + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find(q), std::string::npos) << r.out;

  const std::string shaped = CopyModel("shaped");
  RewriteCheckpoint(shaped, "", q);
  r = Sov("logits -m " + shaped + toks);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find(q), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("shape"), std::string::npos) << r.out;
}

TEST_F(Gemma4Cli, BadTokens) {
  const std::string m = "logits -m " + testing::FixtureDir(kFixture) + " -o " +
                        (tmp_ / "x.npy").string() + " --tokens ";
  Result r = Sov(m + "2," + std::to_string(cases_.V));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find(std::to_string(cases_.V)), std::string::npos) << r.out;

  r = Sov(m + "2,-7");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("-7"), std::string::npos) << r.out;

  r = Sov(m + "''");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("empty"), std::string::npos) << r.out;

  std::vector<int32_t> many(300, 5);  // fixture context: 256 positions
  r = Sov(m + Join(many));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("256"), std::string::npos) << r.out;

  r = Sov(m + "2,abc");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("abc"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp_ / "x.npy"));
}

}  // namespace
}  // namespace sov
