#include "agent/core/fs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace dg::fs {
namespace {

Result<void> fsync_dir(const std::filesystem::path& dir) {
  std::string d = dir.empty() ? "." : dir.string();
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot open directory {}: {}", d, std::strerror(errno)));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return fail(fmt::format("cannot fsync directory {}: {}", d, std::strerror(e)));
  return {};
}

}  // namespace


Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> resolve_links(const std::string& path) {
  std::filesystem::path p(path);
  for (int hops = 0; hops < 40; ++hops) {  // 40: the kernel's own limit (ELOOP)
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return p.string();
      return fail(fmt::format("cannot stat {}: {}", p.string(), std::strerror(errno)));
    }
    if (!S_ISLNK(st.st_mode)) return p.string();
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
    ssize_t n = ::readlink(p.c_str(), target.data(), target.size());
    if (n < 0) return fail(fmt::format("cannot read the link {}: {}", p.string(), std::strerror(errno)));
    target.resize(static_cast<size_t>(n));
    std::filesystem::path t(target);
    p = (t.is_absolute() ? t : p.parent_path() / t).lexically_normal();
  }
  return fail(fmt::format("{}: too many levels of symbolic links", path));
}

namespace {
std::mutex hooks_mu;
testing::FsyncHooks hooks;

testing::FsyncHooks current_hooks() {
  std::lock_guard g(hooks_mu);
  return hooks;
}
}  // namespace

void testing::set_fsync_hooks(FsyncHooks h) {
  std::lock_guard g(hooks_mu);
  hooks = std::move(h);
}

Result<ReplaceResult> replace_file(const std::string& path, const std::string& content,
                                   const ReplaceOptions& options) {
  const testing::FsyncHooks hook = current_hooks();
  auto fsync_temp = [&](int fd) { return hook.temp_file ? hook.temp_file(fd) : ::fsync(fd); };
  auto fsync_dir = [&](int fd) { return hook.directory ? hook.directory(fd) : ::fsync(fd); };
  auto resolved = resolve_links(path);
  if (!resolved) return std::unexpected(resolved.error());
  const std::string& real = *resolved;
  std::filesystem::path target(real);
  std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();

  struct stat old {};
  bool had_old = ::stat(real.c_str(), &old) == 0;
  if (!had_old && errno != ENOENT) return fail(fmt::format("cannot stat {}: {}", real, std::strerror(errno)));

  std::string tmpl = (std::filesystem::path(dir) / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot create a temporary file in {}: {}", dir, std::strerror(errno)));
  auto cleanup = [&](std::string msg) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmpl.c_str());
    return fail(std::move(msg));
  };
  auto err = [] { return std::string(std::strerror(errno)); };

  if (had_old) {
    // The owner first: chown may clear set-id bits, the mode below restores them.
    struct stat mine {};
    if (::fstat(fd, &mine) != 0) return cleanup(fmt::format("cannot stat {}: {}", tmpl, err()));
    if ((mine.st_uid != old.st_uid || mine.st_gid != old.st_gid) && ::fchown(fd, old.st_uid, old.st_gid) != 0)
      return cleanup(fmt::format("cannot keep the owner {}:{} of {} (fchown: {}); run as that user or as root",
                                 old.st_uid, old.st_gid, real, err()));
  }
  if (::fchmod(fd, had_old ? (old.st_mode & 07777) : 0644) != 0)
    return cleanup(fmt::format("cannot set the mode of {} (fchmod: {})", tmpl, err()));

  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cleanup(fmt::format("cannot write {}: {}", tmpl, err()));
    off += static_cast<size_t>(n);
  }
  if (fsync_temp(fd) != 0) return cleanup(fmt::format("cannot fsync {}: {}", tmpl, err()));
  if (had_old) {
    struct stat now {};
    if (::fstat(fd, &now) != 0) return cleanup(fmt::format("cannot stat {}: {}", tmpl, err()));
    auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
    if (ns(now.st_mtim) <= ns(old.st_mtim)) {
      long long next = ns(old.st_mtim) + 1'000'000;  // +1 ms
      timespec times[2] = {{0, UTIME_OMIT}, {next / 1'000'000'000LL, next % 1'000'000'000LL}};
      if (::futimens(fd, times) != 0) return cleanup(fmt::format("cannot set the mtime of {}: {}", tmpl, err()));
    }
  }
  int closing = fd;
  fd = -1;
  // close can report a deferred write error (NFS, quotas): the data may be lost.
  if (::close(closing) != 0) return cleanup(fmt::format("cannot close {}: {}", tmpl, err()));
  // Last look before the rename: the temp file took a write and an fsync
  // (milliseconds to seconds), time enough for someone else to save the file.
  if (options.still_current && !options.still_current()) {
    ::unlink(tmpl.c_str());
    return ReplaceResult{.replaced = false, .durable = true, .warning = {}};
  }
  if (::rename(tmpl.c_str(), real.c_str()) != 0)
    return cleanup(fmt::format("cannot rename {} over {}: {}", tmpl, real, err()));

  // From here the new content is in place: what fails is its durability, a
  // warning for the caller, not "nothing written".
  auto not_durable = [&](std::string why) {
    return ReplaceResult{.replaced = true, .durable = false, .warning = std::move(why)};
  };
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return not_durable(fmt::format("replaced {}, but cannot open its directory to fsync it ({}): the change may "
                                   "not survive a power loss",
                                   real, err()));
  int rc = fsync_dir(dfd);
  std::string fsync_err = rc != 0 ? err() : "";
  if (::close(dfd) != 0 && rc == 0) {
    rc = -1;
    fsync_err = err();
  }
  if (rc != 0)
    return not_durable(fmt::format("replaced {}, but fsync of its directory {} failed ({}): the change may not "
                                   "survive a power loss",
                                   real, dir, fsync_err));
  return ReplaceResult{};
}

Result<void> write_file_atomic(const std::string& path, const std::string& content) {
  auto r = replace_file(path, content);
  if (!r) return std::unexpected(r.error());
  if (!r->durable) return fail(r->warning);
  return {};
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the description releases the flock
}

Result<FileLock> lock_exclusive(const std::string& lock_path, std::chrono::milliseconds timeout) {
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  // Someone else's lock file we may only read: flock works on a read-only descriptor.
  if (fd < 0 && errno == EACCES) fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot open the lock file {}: {}", lock_path, std::strerror(errno)));
  FileLock lock(fd);
  if (auto l = lock_fd_exclusive(fd, lock_path, timeout); !l) return std::unexpected(l.error());
  return lock;
}

Result<void> lock_fd_exclusive(int fd, const std::string& what, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return fail(fmt::format("cannot lock {}: {}", what, std::strerror(errno)));
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(fmt::format("another writer has held the lock {} for more than {} ms; nothing was written",
                              what, timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

Result<int> open_for_append(const std::string& path, int extra_flags) {
  namespace sfs = std::filesystem;
  sfs::path parent = sfs::path(path).parent_path();
  // Directories made here need their own entries made durable, in their parents.
  std::vector<sfs::path> made_dirs;
  std::error_code ec;
  for (sfs::path p = parent; !p.empty() && !sfs::exists(p, ec); p = p.parent_path()) made_dirs.push_back(p);
  if (!made_dirs.empty()) sfs::create_directories(parent, ec);  // a failure shows in open() below
  int flags = O_RDWR | O_APPEND | O_CLOEXEC | extra_flags;
  int fd = ::open(path.c_str(), flags);
  bool created = false;
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, 0644);
    created = fd >= 0;
    if (fd < 0 && errno == EEXIST) fd = ::open(path.c_str(), flags);
  }
  if (fd < 0) return fail(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  if (created) {
    auto r = fsync_dir(parent);
    for (auto it = made_dirs.begin(); r && it != made_dirs.end(); ++it) r = fsync_dir(it->parent_path());
    if (!r) {
      ::close(fd);
      return fail(fmt::format("created {} but could not make it durable: {}", path, r.error().message));
    }
  }
  return fd;
}

}  // namespace dg::fs
