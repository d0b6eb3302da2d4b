#include "agent/core/fs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace dg::fs {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> write_file_atomic(const std::string& path, const std::string& content) {
  std::filesystem::path target(path);
  std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();
  std::string tmpl = (std::filesystem::path(dir) / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot create a temporary file in {}: {}", dir, std::strerror(errno)));
  auto cleanup = [&](std::string msg) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    return fail(std::move(msg));
  };
  struct stat old {};
  bool had_old = ::stat(path.c_str(), &old) == 0;
  ::fchmod(fd, had_old ? (old.st_mode & 07777) : 0644);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cleanup(fmt::format("cannot write {}: {}", tmpl, std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup(fmt::format("cannot fsync {}: {}", tmpl, std::strerror(errno)));
  if (had_old) {
    struct stat now {};
    ::fstat(fd, &now);
    auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
    if (ns(now.st_mtim) <= ns(old.st_mtim)) {
      long long next = ns(old.st_mtim) + 1'000'000;  // +1 ms
      timespec times[2] = {{0, UTIME_OMIT}, {next / 1'000'000'000LL, next % 1'000'000'000LL}};
      ::futimens(fd, times);
    }
  }
  ::close(fd);
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    return fail(fmt::format("cannot rename {} over {}: {}", tmpl, path, std::strerror(e)));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace dg::fs
