#include "runtime/mapped_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/check.h"

namespace sov {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "/sov_mapped_XXXXXX";
  SOV_CHECK(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

TEST(MappedFileTest, MapsWholeFile) {
  const std::string path = TempDir() + "/a.bin";
  std::string bytes(10000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  WriteFile(path, bytes);
  absl::StatusOr<MappedFile> m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), bytes.size());
  EXPECT_EQ(m->view(), bytes);
  EXPECT_EQ(m->path(), path);
  EXPECT_TRUE(m->is_open());
}

TEST(MappedFileTest, MoveTransfersOwnership) {
  const std::string path = TempDir() + "/b.bin";
  WriteFile(path, "hello");
  absl::StatusOr<MappedFile> m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok());
  const uint8_t* p = m->data();
  MappedFile moved = *std::move(m);
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(moved.view(), "hello");
  MappedFile other;
  EXPECT_FALSE(other.is_open());
  other = std::move(moved);
  EXPECT_EQ(other.view(), "hello");
  EXPECT_EQ(moved.data(), nullptr);  // NOLINT(bugprone-use-after-move): defined state
  EXPECT_EQ(moved.size(), 0u);
}

TEST(MappedFileTest, EmptyFileIsValid) {
  const std::string path = TempDir() + "/empty.bin";
  WriteFile(path, "");
  absl::StatusOr<MappedFile> m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), 0u);
  EXPECT_EQ(m->data(), nullptr);
}

TEST(MappedFileTest, MissingFileNamesPathAndErrno) {
  const std::string path = TempDir() + "/does_not_exist.safetensors";
  absl::StatusOr<MappedFile> m = MappedFile::Open(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(m.status().message(), HasSubstr(path));
  EXPECT_THAT(m.status().message(), HasSubstr("No such file"));
}

TEST(MappedFileTest, DirectoryIsRejected) {
  const std::string dir = TempDir();
  absl::StatusOr<MappedFile> m = MappedFile::Open(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("is a directory"));
  EXPECT_FALSE(ReadWholeFile(dir).ok());
}

TEST(MappedFileTest, ReadWholeFile) {
  const std::string path = TempDir() + "/c.json";
  WriteFile(path, std::string("{\"a\": 1}\n\0x", 11));
  absl::StatusOr<std::string> s = ReadWholeFile(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, std::string("{\"a\": 1}\n\0x", 11));
  absl::StatusOr<std::string> missing = ReadWholeFile(path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(path + ".nope"));
}

TEST(MapPrefetchTest, NamesRoundTripAndUnknownIsAnError) {
  for (MapPrefetch p : {MapPrefetch::kNone, MapPrefetch::kWillNeed, MapPrefetch::kPopulate}) {
    absl::StatusOr<MapPrefetch> q = ParseMapPrefetch(MapPrefetchName(p));
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(*q, p);
  }
  absl::StatusOr<MapPrefetch> bad = ParseMapPrefetch("eager");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("\"eager\""));
  EXPECT_THAT(bad.status().message(), HasSubstr("populate"));
}

// Resident kB of the mapping that starts at `addr`: pages present in this
// process's page tables (/proc/self/smaps "Rss"), not merely in the page cache.
long MappedRssKb(const void* addr) {
  std::ifstream f("/proc/self/smaps");
  char head[32];
  std::snprintf(head, sizeof(head), "%lx-", reinterpret_cast<unsigned long>(addr));
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    if (!in) {
      in = line.rfind(head, 0) == 0;
    } else if (line.rfind("Rss:", 0) == 0) {
      return std::stol(line.substr(4));
    }
  }
  return -1;
}

TEST(MapPrefetchTest, PopulateMapsEveryPageAndLeavesTheFileAlone) {
  const std::string path = TempDir() + "/weights.bin";
  constexpr size_t kPages = 512;
  std::string bytes(kPages * 4096 + 100, '\0');  // a partial last page
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13 + 1);
  WriteFile(path, bytes);

  constexpr long kFileKb = (kPages + 1) * 4;

  // On demand nothing is mapped until touched.
  absl::StatusOr<MappedFile> lazy = MappedFile::Open(path);
  ASSERT_TRUE(lazy.ok()) << lazy.status();
  ASSERT_TRUE(lazy->Prefetch(MapPrefetch::kNone).ok());
  EXPECT_EQ(MappedRssKb(lazy->data()), 0);

  absl::StatusOr<MappedFile> eager = MappedFile::Open(path);
  ASSERT_TRUE(eager.ok()) << eager.status();
  ASSERT_TRUE(eager->Prefetch(MapPrefetch::kPopulate).ok());
  EXPECT_EQ(MappedRssKb(eager->data()), kFileKb);
  EXPECT_EQ(eager->view(), bytes);

  absl::StatusOr<MappedFile> hinted = MappedFile::Open(path);
  ASSERT_TRUE(hinted.ok()) << hinted.status();
  ASSERT_TRUE(hinted->Prefetch(MapPrefetch::kWillNeed).ok());
  EXPECT_EQ(hinted->view(), bytes);

  // A sub-range that starts mid-page is widened, not rejected.
  EXPECT_TRUE(PrefetchMapped(eager->data() + 4097, 10000, MapPrefetch::kPopulate).ok());
  EXPECT_TRUE(PrefetchMapped(nullptr, 0, MapPrefetch::kPopulate).ok());
  absl::StatusOr<std::string> after = ReadWholeFile(path);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, bytes);
}

}  // namespace
}  // namespace sov
