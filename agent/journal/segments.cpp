#include "agent/journal/segments.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "agent/core/fs.h"

namespace dg::segments {

namespace sfs = std::filesystem;

std::string sealed_path(const std::string& live, long long number) { return fmt::format("{}.{:06}", live, number); }
std::string lock_path(const std::string& live) { return live + ".lock"; }

Result<std::vector<Sealed>> list_sealed(const std::string& live) {
  sfs::path p(live);
  sfs::path dir = p.parent_path().empty() ? sfs::path(".") : p.parent_path();
  std::string prefix = p.filename().string() + ".";
  std::vector<Sealed> out;
  std::error_code ec;
  sfs::directory_iterator it(dir, ec), end;
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) return fail(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  for (; it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string_view digits = std::string_view(name).substr(prefix.size());
    long long n = 0;
    auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (err != std::errc() || ptr != digits.data() + digits.size() || n <= 0) continue;
    // Only the spelling sealed_path() writes: `P.1` beside `P.000001` is not a segment.
    if (fmt::format("{:06}", n) != digits) continue;
    out.push_back({n, sealed_path(live, n)});
  }
  if (ec) return fail(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end(), [](const Sealed& a, const Sealed& b) { return a.number < b.number; });
  return out;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}
Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}
int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::string real_path(const std::string& path) {
  auto r = fs::resolve_links(path);
  return r ? *r : path;
}

namespace {
bool same(const std::vector<Sealed>& a, const std::vector<Sealed>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Sealed& x, const Sealed& y) { return x.number == y.number; });
}
}  // namespace

Result<Files> open_for_reading(const std::string& path) {
  Files f;
  f.live = real_path(path);
  // A rotation renames P to the next sealed name, then creates P. Listing
  // before and after opening P: if both listings agree, no rename happened
  // in between, so the P opened follows the last sealed segment listed (or
  // does not exist yet, and then nothing follows it). Rotations take
  // microseconds; the retries are for a writer that rotates many times in a row.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto before = list_sealed(f.live);
    if (!before) return std::unexpected(before.error());
    int fd = ::open(f.live.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) return fail(fmt::format("cannot read {}: {}", f.live, std::strerror(errno)));
    Fd live(fd);
    auto after = list_sealed(f.live);
    if (!after) return std::unexpected(after.error());
    if (same(*before, *after)) {
      f.sealed = std::move(*after);
      f.live_fd = std::move(live);
      return f;
    }
  }
  return fail(fmt::format("{} keeps being rotated while it is read", f.live));
}

}  // namespace dg::segments
