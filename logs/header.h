#pragma once
/// Header patterns: what of a log line is its time, its level and its
/// message. The message is what the miner sees; the level feeds the
/// conditions ("error or above"); the time, when a line has one, places it in
/// the baseline or after the release.
///
/// Formats: `auto` (default) strips the common prefixes — timestamps in their
/// usual spellings, `-`, process ids after a time, month and weekday names,
/// levels bare or bracketed, a bracketed thread or logger after them — and
/// stops at the first token that is none of these; `none`; `syslog` (RFC 3164
/// and 5424); `iso8601-level`; `logfmt` and `json` (message, level and time
/// keys configurable); `regex`, a Perl pattern (Boost.Regex) with a named
/// group `message` and optional `time` and `level`. A line a pattern does not
/// match falls back to `auto`. Immutable; thread-safe.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "logs/level.h"

namespace dg::logs {

struct HeaderOptions {
  std::string format = "auto";  ///< auto | none | syslog | iso8601-level | logfmt | json | regex
  std::string pattern;          ///< regex: Perl syntax, (?<message>...) required
  std::string message_key = "msg", level_key = "level", time_key = "time";  ///< logfmt, json
};

struct ParsedLine {
  std::string_view message;  ///< into the line, or into `owned`
  Level level = Level::Unknown;
  std::optional<TimePoint> time;
  std::string owned;  ///< storage for a message that had to be unescaped
};

class HeaderParser {
 public:
  static Result<HeaderParser> make(HeaderOptions options);
  HeaderParser();
  /// Never fails: a line that does not fit the format is parsed as `auto`.
  /// `want_time` false skips parsing the time (a live line is stamped when read).
  void parse(std::string_view line, ParsedLine& out, bool want_time = true) const;
  const HeaderOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// The formats `format` accepts, for diagnostics.
const std::vector<std::string>& header_formats();
/// RFC 3339 / ISO 8601 (`2026-12-01T17:54:52.123Z`, `2015-10-18 18:01:47,978`,
/// offsets `+02:00`; no zone is UTC) and Unix epoch seconds or milliseconds.
std::optional<TimePoint> parse_log_time(std::string_view s);

}  // namespace dg::logs
