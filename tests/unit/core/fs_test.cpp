// replace_file's two outcomes past the rename and its last look before it,
// with fsync(2) replaced through the test seam.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "agent/core/fs.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

// Real fsync again at scope exit, whatever the test did.
struct Hooks {
  explicit Hooks(fs::testing::FsyncHooks h) { fs::testing::set_fsync_hooks(std::move(h)); }
  ~Hooks() { fs::testing::set_fsync_hooks({}); }
};

int temp_files(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

TEST(ReplaceFile, AFailedDirectoryFsyncIsAWarningNotNothingWritten) {
  test::TempDir dir;
  std::string path = dir.write("f.json", "old");
  Hooks hooks({.directory = [](int) { errno = EIO; return -1; }});
  auto r = fs::replace_file(path, "new");
  ASSERT_TRUE(r) << "the content is in place, yet the call says nothing was written: " << r.error().message;
  EXPECT_TRUE(r->replaced);
  EXPECT_FALSE(r->durable);
  EXPECT_NE(r->warning.find("fsync of its directory"), std::string::npos) << r->warning;
  EXPECT_NE(r->warning.find("Input/output error"), std::string::npos) << r->warning;
  EXPECT_EQ(test::slurp(path), "new");
}

TEST(ReplaceFile, WriteFileAtomicStillCallsANonDurableReplaceAnError) {
  test::TempDir dir;
  std::string path = dir.write("report.json", "old");
  Hooks hooks({.directory = [](int) { errno = EIO; return -1; }});
  auto r = fs::write_file_atomic(path, "new");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("replaced " + path), std::string::npos) << r.error().message;
}

TEST(ReplaceFile, AFailedTempFsyncWritesNothing) {
  test::TempDir dir;
  std::string path = dir.write("f.json", "old");
  Hooks hooks({.temp_file = [](int) { errno = EIO; return -1; }});
  auto r = fs::replace_file(path, "new");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot fsync"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::slurp(path), "old");
  EXPECT_EQ(temp_files(dir.path()), 0);
}

TEST(ReplaceFile, ATargetChangedDuringTheTempFsyncIsNotOverwritten) {
  test::TempDir dir;
  std::string path = dir.write("f.json", "old");
  struct stat seen {};
  ASSERT_EQ(::stat(path.c_str(), &seen), 0);
  // An editor saves while our temp file is being fsync'd.
  Hooks hooks({.temp_file = [&](int fd) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "the editor's save";
    return ::fsync(fd);
  }});
  auto r = fs::replace_file(path, "ours", {.still_current = [&] {
                                             struct stat now {};
                                             return ::stat(path.c_str(), &now) == 0 && now.st_size == seen.st_size &&
                                                    now.st_ino == seen.st_ino;
                                           }});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->replaced);
  EXPECT_EQ(test::slurp(path), "the editor's save");
  EXPECT_EQ(temp_files(dir.path()), 0) << "the temp file of an aborted replace is removed";
}

TEST(FileLockFd, ASecondDescriptionWaitsThenFailsClearly) {
  test::TempDir dir;
  std::string path = dir.write("incidents.jsonl", "");
  auto held = fs::lock_exclusive(path, std::chrono::milliseconds(100));
  ASSERT_TRUE(held) << held.error().message;
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto r = fs::lock_fd_exclusive(fd, path, std::chrono::milliseconds(50));
  ASSERT_FALSE(r) << "two open descriptions of one file both got the lock";
  EXPECT_NE(r.error().message.find("another writer has held the lock " + path), std::string::npos)
      << r.error().message;
  held = fs::FileLock();
  EXPECT_TRUE(fs::lock_fd_exclusive(fd, path, std::chrono::milliseconds(50)));
  ::close(fd);
}

}  // namespace
}  // namespace dg
