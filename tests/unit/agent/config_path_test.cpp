// `--config` (or an include) naming something that is not a readable regular
// file: the diagnostic says exactly what it is, and a FIFO is never opened
// (opening one blocks until a writer comes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "agent/config/config.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

std::string only_message(const LoadResult& r) {
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.diagnostics.size(), 1u);
  return r.diagnostics.empty() ? "" : r.diagnostics.front().str();
}

TEST(ConfigPath, DirectoryIsNamedAsSuch) {
  test::TempDir dir;
  std::string msg = only_message(load_config(dir.path()));
  EXPECT_NE(msg.find(dir.path() + " is a directory, not a config file"), std::string::npos) << msg;
}

TEST(ConfigPath, FifoIsNeverOpened) {
  test::TempDir dir;
  std::string fifo = dir.file("deployguard.toml");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto loading = std::async(std::launch::async, [&] { return load_config(fifo); });
  if (loading.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the reader the old code left waiting, so the test can end.
    int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) ::close(fd);
    FAIL() << "loading a FIFO blocked: it was opened";
  }
  std::string msg = only_message(loading.get());
  EXPECT_NE(msg.find(fifo + " is a FIFO (named pipe), not a config file"), std::string::npos) << msg;
}

TEST(ConfigPath, IncludeNamingADirectoryIsNamedAsSuch) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.file("more.toml"));
  std::string main = dir.write("main.toml", "include = [\"more.toml\"]\n");
  LoadResult r = load_config(main);
  std::string all;
  for (const auto& d : r.diagnostics) all += d.str() + "\n";
  EXPECT_NE(all.find("more.toml is a directory, not a config file"), std::string::npos) << all;
}

TEST(ConfigPath, UnreadableFileSaysPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  test::TempDir dir;
  std::string path = dir.write("deployguard.toml", "[agent]\nservice = \"wiki\"\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  std::string msg = only_message(load_config(path));
  EXPECT_NE(msg.find("cannot read " + path + ": permission denied"), std::string::npos) << msg;
}

TEST(ConfigPath, MissingFileSaysSo) {
  test::TempDir dir;
  std::string msg = only_message(load_config(dir.file("nope.toml")));
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
}

}  // namespace
}  // namespace dg
