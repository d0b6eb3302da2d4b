#include "logs/sources/file_source.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>

#include "logs/line_splitter.h"

namespace dg::logs {
namespace {

constexpr size_t kChunk = 64 * 1024;

struct Tail {
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t offset = 0;
  off_t backlog_end = 0;  ///< bytes before this were there at open
  TimePoint backlog_at{};
  LineSplitter split;
  explicit Tail(size_t max) : split(max) {}
  ~Tail() {
    if (fd >= 0) ::close(fd);
  }
};

class FileSource final : public LogSource {
 public:
  FileSource(const LogSourceSpec& spec, const Clock& clock)
      : spec_(std::get<FileSourceSpec>(spec.kind)), max_line_(spec.max_line_bytes), clock_(clock) {}

  Result<void> open(TimePoint) override {
    opened_ = true;
    for (const auto& path : expand()) attach(path, true);
    return {};
  }

  Result<size_t> poll(std::vector<LogLine>& out, size_t max) override {
    size_t before = out.size();
    // New files matching a pattern are read from their start.
    for (const auto& path : expand())
      if (!tails_.contains(path)) attach(path, false);
    for (auto& [path, t] : tails_) {
      if (out.size() - before >= max) break;
      follow(*t, out, max - (out.size() - before));
    }
    return out.size() - before;
  }

  std::string status() const override {
    std::string s;
    for (const auto& [path, t] : tails_)
      s += fmt::format("{}{} at {}{}", s.empty() ? "" : "; ", path, static_cast<long long>(t->offset), t->fd < 0 ? " (waiting)" : "");
    return s.empty() ? "no file matches " + fmt::format("{}", fmt::join(spec_.paths, ", ")) : s;
  }

 private:
  std::vector<std::string> expand() const {
    std::vector<std::string> out;
    for (const auto& p : spec_.paths) {
      if (p.find_first_of("*?[") == std::string::npos) {
        out.push_back(p);  // a plain path is followed even while it is missing
        continue;
      }
      glob_t g{};
      if (::glob(p.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
      ::globfree(&g);
    }
    return out;
  }

  void attach(const std::string& path, bool at_open) {
    auto t = std::make_unique<Tail>(max_line_);
    t->path = path;
    if (reopen(*t) && at_open) {
      struct stat st {};
      ::fstat(t->fd, &st);
      off_t start = st.st_size > static_cast<off_t>(spec_.backfill_bytes) ? st.st_size - static_cast<off_t>(spec_.backfill_bytes) : 0;
      if (start > 0) start = line_start_after(t->fd, start);
      t->offset = start;
      t->backlog_end = st.st_size;
      auto mtime = std::chrono::system_clock::time_point{std::chrono::seconds{st.st_mtim.tv_sec} +
                                                         std::chrono::nanoseconds{st.st_mtim.tv_nsec}};
      // The wall-clock mtime on the monotonic timeline, never in the future.
      t->backlog_at = std::min(clock_.now(), clock_.now() - std::chrono::duration_cast<TimePoint::duration>(clock_.wall() - mtime));
    }
    tails_.emplace(path, std::move(t));
  }

  static off_t line_start_after(int fd, off_t from) {
    std::array<char, 4096> buf;
    off_t at = from;
    for (;;) {
      ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
      if (n <= 0) return at;
      if (auto* nl = static_cast<char*>(std::memchr(buf.data(), '\n', static_cast<size_t>(n)))) return at + (nl - buf.data()) + 1;
      at += n;
    }
  }

  bool reopen(Tail& t) {
    int fd = ::open(t.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    struct stat st {};
    ::fstat(fd, &st);
    if (t.fd >= 0) ::close(t.fd);
    t.fd = fd;
    t.dev = st.st_dev;
    t.ino = st.st_ino;
    t.offset = 0;
    t.backlog_end = 0;
    t.split.reset();
    return true;
  }

  // Reads what is there from the open descriptor.
  void drain(Tail& t, std::vector<LogLine>& out, size_t max) {
    std::array<char, kChunk> buf;
    size_t got = 0;
    while (t.fd >= 0 && got < max) {
      ssize_t n = ::pread(t.fd, buf.data(), buf.size(), t.offset);
      if (n <= 0) return;
      bool history = t.offset < t.backlog_end;
      t.offset += n;
      TimePoint at = history ? t.backlog_at : clock_.now();
      t.split.feed(std::string_view(buf.data(), static_cast<size_t>(n)), [&](std::string&& text, bool cut) {
        out.push_back(LogLine{at, std::move(text), std::nullopt, history, cut});
        ++got;
      });
    }
  }

  void follow(Tail& t, std::vector<LogLine>& out, size_t max) {
    struct stat st {};
    bool present = ::stat(t.path.c_str(), &st) == 0;
    if (t.fd < 0) {
      if (present && reopen(t)) drain(t, out, max);
      return;
    }
    if (present && (st.st_ino != t.ino || st.st_dev != t.dev)) {
      // Renamed away and replaced: the old file's rest first.
      drain(t, out, max);
      t.split.flush([&](std::string&& text, bool cut) { out.push_back(LogLine{clock_.now(), std::move(text), {}, false, cut}); });
      if (reopen(t)) drain(t, out, max);
      return;
    }
    struct stat now {};
    ::fstat(t.fd, &now);
    if (now.st_size < t.offset) {
      // Copied and truncated: what is there now is new.
      t.offset = 0;
      t.backlog_end = 0;
      t.split.reset();
    }
    drain(t, out, max);
  }

  FileSourceSpec spec_;
  size_t max_line_;
  const Clock& clock_;
  bool opened_ = false;
  std::map<std::string, std::unique_ptr<Tail>> tails_;
};

}  // namespace

Result<std::unique_ptr<LogSource>> make_file_source(const LogSourceSpec& spec, const Clock& clock) {
  if (!std::holds_alternative<FileSourceSpec>(spec.kind)) return fail("file source: wrong spec");
  if (std::get<FileSourceSpec>(spec.kind).paths.empty()) return fail("file source: no paths");
  return std::make_unique<FileSource>(spec, clock);
}

}  // namespace dg::logs
