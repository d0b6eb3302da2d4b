#include "logs/sources/journald_source.h"

#include <systemd/sd-journal.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "logs/line_splitter.h"

namespace dg::logs {
namespace {

class JournaldSource final : public LogSource {
 public:
  JournaldSource(const LogSourceSpec& spec, const Clock& clock)
      : spec_(std::get<JournaldSourceSpec>(spec.kind)), max_line_(spec.max_line_bytes), clock_(clock) {}
  ~JournaldSource() override {
    if (j_) sd_journal_close(j_);
  }

  Result<void> open(TimePoint since) override {
    int r = spec_.directory.empty() ? sd_journal_open(&j_, SD_JOURNAL_LOCAL_ONLY)
                                    : sd_journal_open_directory(&j_, spec_.directory.c_str(), 0);
    if (r < 0) return fail(fmt::format("journal{}: {}", spec_.directory.empty() ? "" : " " + spec_.directory, std::strerror(-r)));
    for (const auto& u : spec_.units) {
      std::string m = "_SYSTEMD_UNIT=" + u;
      if ((r = sd_journal_add_match(j_, m.data(), m.size())) < 0) return fail(fmt::format("journal match {}: {}", m, std::strerror(-r)));
    }
    if (!spec_.units.empty() && !spec_.matches.empty()) sd_journal_add_conjunction(j_);
    for (const auto& m : spec_.matches)
      if ((r = sd_journal_add_match(j_, m.data(), m.size())) < 0) return fail(fmt::format("journal match {}: {}", m, std::strerror(-r)));
    // The journal stamps entries with the calendar: the window's start there.
    auto wall = clock_.to_wall(since);
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
    if ((r = sd_journal_seek_realtime_usec(j_, static_cast<uint64_t>(std::max<int64_t>(0, usec)))) < 0)
      return fail(fmt::format("journal seek: {}", std::strerror(-r)));
    // Asks for the inotify watches that sd_journal_process() then reads.
    if ((r = sd_journal_get_fd(j_)) < 0) return fail(fmt::format("journal: cannot follow: {}", std::strerror(-r)));
    opened_at_ = clock_.now();
    return {};
  }

  Result<size_t> poll(std::vector<LogLine>& out, size_t max) override {
    if (!j_) return fail("journal not open");
    sd_journal_process(j_);
    size_t n = 0;
    while (n < max) {
      int r = sd_journal_next(j_);
      if (r < 0) {
        last_error_ = std::strerror(-r);
        break;
      }
      if (r == 0) break;
      const void* data = nullptr;
      size_t len = 0;
      LogLine line;
      if (sd_journal_get_data(j_, "MESSAGE", &data, &len) >= 0 && len >= 8) {
        std::string_view m(static_cast<const char*>(data) + 8, len - 8);
        line.cut = m.size() > max_line_;
        line.text = sanitize_utf8(m.substr(0, max_line_));
      }
      if (sd_journal_get_data(j_, "PRIORITY", &data, &len) >= 0 && len > 9) {
        int p = 6;
        auto* s = static_cast<const char*>(data) + 9;
        if (std::from_chars(s, s + (len - 9), p).ec == std::errc{}) line.level = level_of_priority(p);
      }
      uint64_t usec = 0;
      if (sd_journal_get_realtime_usec(j_, &usec) >= 0) {
        TimePoint wall{std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds{usec})};
        line.at = std::min(clock_.now(), clock_.now() - std::chrono::duration_cast<TimePoint::duration>(clock_.wall() - wall));
      } else {
        line.at = clock_.now();
      }
      line.backlog = line.at < opened_at_;
      out.push_back(std::move(line));
      ++n;
      ++read_;
    }
    return n;
  }

  std::string status() const override {
    return fmt::format("journal {}: {} entries read{}", spec_.directory.empty() ? "(local)" : spec_.directory, read_,
                       last_error_.empty() ? "" : "; " + last_error_);
  }

 private:
  JournaldSourceSpec spec_;
  size_t max_line_;
  const Clock& clock_;
  sd_journal* j_ = nullptr;
  TimePoint opened_at_{};
  uint64_t read_ = 0;
  std::string last_error_;
};

}  // namespace

Result<std::unique_ptr<LogSource>> make_journald_source(const LogSourceSpec& spec, const Clock& clock) {
  if (!std::holds_alternative<JournaldSourceSpec>(spec.kind)) return fail("journald source: wrong spec");
  for (const auto& m : std::get<JournaldSourceSpec>(spec.kind).matches)
    if (m.find('=') == std::string::npos || m.front() == '=') return fail("journald match \"" + m + "\" is not FIELD=value");
  return std::make_unique<JournaldSource>(spec, clock);
}

}  // namespace dg::logs
