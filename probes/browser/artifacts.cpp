#include "probes/browser/artifacts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "agent/core/fs.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"

namespace dg {

namespace stdfs = std::filesystem;

Result<Artifact> save_artifact(const std::string& dir, const std::string& kind, std::string_view bytes,
                               std::string_view ext) {
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  if (ec) return fail(fmt::format("cannot create {}: {}", dir, ec.message()));
  Artifact a{.kind = kind, .sha256 = sha256_hex(bytes), .bytes = static_cast<long long>(bytes.size())};
  stdfs::path path = stdfs::absolute(stdfs::path(dir) / fmt::format("{}.{}", a.sha256, ext), ec);
  a.path = path.lexically_normal().string();
  struct stat st{};
  if (::stat(a.path.c_str(), &st) == 0 && st.st_size == a.bytes) {
    // Already there (same bytes, same name): touched, so pruning sees it as recent.
    stdfs::last_write_time(a.path, stdfs::file_time_type::clock::now(), ec);
    return a;
  }
  if (auto w = fs::write_file_atomic(a.path, std::string(bytes)); !w) return std::unexpected(w.error());
  return a;
}

namespace {
std::mutex g_pins_mu;
std::set<std::string> g_pins;
}  // namespace

void pin_artifacts(const std::vector<Artifact>& files) {
  std::lock_guard lock(g_pins_mu);
  for (const auto& a : files) g_pins.insert(a.sha256);
}

std::vector<std::string> prune_artifacts(const std::string& dir, const PruneLimits& limits,
                                         const std::set<std::string>& pinned) {
  struct File {
    stdfs::path path;
    stdfs::file_time_type mtime;
    long long bytes;
  };
  std::vector<File> files;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    std::string name = e.path().filename().string();
    if (name.size() < 65 || name[64] != '.') continue;  // not ours (a temp file, say)
    files.push_back({e.path(), e.last_write_time(ec), static_cast<long long>(e.file_size(ec))});
  }
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.mtime < b.mtime; });
  long long total = 0;
  for (const auto& f : files) total += f.bytes;
  size_t count = files.size();
  auto now = stdfs::file_time_type::clock::now();
  std::vector<std::string> removed;
  for (const auto& f : files) {
    if (count <= limits.max_files && total <= limits.max_bytes) break;
    if (now - f.mtime < limits.keep_recent) break;  // sorted: the rest are younger still
    std::string name = f.path.filename().string();
    if (pinned.contains(name.substr(0, 64))) continue;
    {
      std::lock_guard lock(g_pins_mu);
      if (g_pins.contains(name.substr(0, 64))) continue;
    }
    if (stdfs::remove(f.path, ec)) {
      removed.push_back(name);
      --count;
      total -= f.bytes;
    }
  }
  if (!removed.empty()) {
    // What was pruned and when, for the review of an incident whose
    // screenshot is gone ("pruned on …" rather than a dangling path).
    std::string lines;
    std::string at = text::rfc3339(std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::now()));
    for (const auto& name : removed)
      lines += fmt::format("{{\"file\":\"{}\",\"sha256\":\"{}\",\"pruned_at\":\"{}\"}}\n", name, name.substr(0, 64), at);
    if (auto fd = fs::open_for_append((stdfs::path(dir) / "pruned.jsonl").string()); fd) {
      (void)!::write(*fd, lines.data(), lines.size());
      ::close(*fd);
    }
  }
  return removed;
}

}  // namespace dg
