#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "agent/core/fs.h"
#include "agent/core/http_client.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/incidents/incident.h"

namespace dg {
namespace {

// Redacted as a value before it is serialized; the event's times stay intact.
std::string redacted_payload(const Incident& incident) {
  boost::json::value v = to_json(incident);
  secrets::redact_json(v, {"since", "at", "journal_head"});
  return boost::json::serialize(v);
}

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

// JSON POST with retries: network errors, 429 and 5xx are retried with
// exponential backoff and jitter, honouring Retry-After; other 4xx are final.
class WebhookSink final : public IncidentSink {
 public:
  explicit WebhookSink(WebhookSinkSpec spec) : spec_(std::move(spec)) {}
  Result<SinkOutcome> send(const Incident& incident) override {
    HttpRequest req;
    req.method = "POST";
    req.url = spec_.url;
    req.headers = spec_.headers;
    req.headers.emplace_back("Content-Type", "application/json");
    // One key per event (retries of it share it); the incident's own identity
    // is dedup_key in the body, the same for opened, updated and resolved.
    req.headers.emplace_back("Idempotency-Key", fmt::format("{}:{}:{}", incident.key, incident.event, text::rfc3339(incident.at)));
    req.body = redacted_payload(incident);
    req.timeout = spec_.timeout;
    std::mt19937 rng{std::random_device{}()};
    Duration delay = spec_.backoff;
    std::string last;
    for (int attempt = 1; attempt <= spec_.max_attempts; ++attempt) {
      auto r = http_perform(req);
      Duration wait = delay;
      bool server_said = false;
      if (r && r->status >= 200 && r->status < 300)
        return SinkOutcome{attempt, fmt::format("HTTP {}", r->status)};
      if (r) {
        last = fmt::format("HTTP {}: {}", r->status, secrets::excerpt(r->body, 200));
        if (r->status != 429 && r->status < 500) return fail(secrets::redact(last) + " (not retried)");
        if (const std::string* ra = r->header("retry-after")) {
          long long secs = 0;
          auto [p, ec] = std::from_chars(ra->data(), ra->data() + ra->size(), secs);
          if (ec == std::errc{} && secs >= 0) {
            wait = std::chrono::seconds(std::min<long long>(secs, 60));
            server_said = true;
          }
        }
      } else {
        last = r.error().message;
      }
      if (attempt == spec_.max_attempts) break;
      // Jitter spreads retries out, but never earlier than Retry-After asked.
      std::uniform_real_distribution<double> jitter(server_said ? 1.0 : 0.8, 1.2);
      std::this_thread::sleep_for(Duration(static_cast<long long>(static_cast<double>(wait.count()) * jitter(rng))));
      delay = std::min(delay * 2, Duration(30'000));
    }
    return fail(fmt::format("gave up after {} attempt(s): {}", spec_.max_attempts, secrets::redact(last)));
  }

 private:
  WebhookSinkSpec spec_;
};

}  // namespace

boost::json::object to_json(const Incident& i) {
  boost::json::array actions;
  for (const auto& a : i.actions) actions.emplace_back(a);
  return boost::json::object{
      {"event", i.event},
      {"dedup_key", i.key},
      {"title", i.title},
      {"status", i.status},
      {"service", i.service},
      {"environment", i.environment},
      {"release", i.release},
      {"policy", i.policy},
      {"affected", i.scope},
      {"experience", i.experience},
      {"since", text::rfc3339(i.since)},
      {"at", text::rfc3339(i.at)},
      {"actions", std::move(actions)},
      {"journal", i.journal},
      {"journal_head", i.journal_head},
  };
}

void register_builtin_incident_sinks(IncidentSinkRegistry& registry) {
  registry.add("file", [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
    return std::make_unique<FileSink>(std::get<FileSinkSpec>(s.kind).path);
  });
  registry.add("webhook", [](const IncidentSinkSpec& s) -> Result<std::unique_ptr<IncidentSink>> {
    return std::make_unique<WebhookSink>(std::get<WebhookSinkSpec>(s.kind));
  });
}

}  // namespace dg
