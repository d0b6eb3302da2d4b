#include "agent/incidents/sinks/file_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent/config/reader.h"
#include "agent/core/fs.h"

namespace dg {
namespace {

// JSON Lines, one line per event, appended and fsync'd.
class FileSink final : public IncidentSink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  Result<SinkOutcome> send(const Incident& incident) override {
    std::string line = redacted_payload(incident) + "\n";
    // A new file's directory entry is fsync'd too, or a power loss can lose
    // the whole file; a failed write is cut back off so lines stay whole.
    auto fd = fs::open_for_append(path_);
    if (!fd) return fail(fd.error().message);
    // Another guard may append to the same file: the flock on the file (it is
    // appended to, never replaced) keeps its line out of the range we may cut
    // back off. A writer that takes no lock is not protected.
    if (auto l = fs::lock_fd_exclusive(*fd, path_, kLockTimeout); !l) {
      ::close(*fd);
      return fail(l.error().message);
    }
    struct stat st {};
    off_t before = ::fstat(*fd, &st) == 0 ? st.st_size : -1;
    ssize_t n = ::write(*fd, line.data(), line.size());
    int e = errno;
    bool written = n == static_cast<ssize_t>(line.size());
    bool synced = written && ::fsync(*fd) == 0;
    if (synced) e = 0;
    else if (written) e = errno;
    if (!synced && before >= 0) (void)::ftruncate(*fd, before);
    ::close(*fd);  // releases the lock
    if (!written) return fail(fmt::format("cannot write {}: {}", path_, n < 0 ? std::strerror(e) : "short write"));
    if (!synced) return fail(fmt::format("cannot fsync {}: {}", path_, std::strerror(e)));
    return SinkOutcome{1, fmt::format("appended to {}", path_)};
  }

 private:
  // Another holder only writes and fsyncs one line; longer means it is stuck.
  static constexpr std::chrono::milliseconds kLockTimeout{10'000};
  std::string path_;
};

}  // namespace

void register_file_sink(IncidentSinkRegistry& registry) {
  registry.add(
      "file",
      [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
        return std::make_unique<FileSink>(s.kind.as<FileSinkSpec>().path);
      },
      [](ConfigReader& r, IncidentSinkSpec& spec) {
        FileSinkSpec f;
        if (auto v = r.path("path", true)) f.path = *v;
        spec.kind = std::move(f);
      });
}

}  // namespace dg
