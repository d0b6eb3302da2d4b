#pragma once
/// Small text helpers shared by diagnostics, evidence and reports.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/clock.h"

namespace dg::text {

size_t edit_distance(std::string_view a, std::string_view b);
/// The closest candidate within a small edit distance, for "did you mean".
std::optional<std::string> closest(std::string_view word, std::span<const std::string> candidates);
/// Bounded, printable excerpt: control bytes escaped, at most `max` bytes kept.
std::string excerpt(std::string_view s, size_t max = 240);
/// The last bytes of `s`, escaped like excerpt(), at most about `max` bytes.
std::string excerpt_tail(std::string_view s, size_t max = 240);
/// RFC 3339 UTC with milliseconds: 2026-11-25T07:00:00.123Z
std::string rfc3339(TimePoint t);
/// Reads what rfc3339() writes (`YYYY-MM-DDTHH:MM:SS[.fff]Z`); nullopt otherwise.
std::optional<TimePoint> parse_rfc3339(std::string_view s);
/// XML 1.0 text/attribute escaping; control characters XML cannot carry become '?'.
std::string xml_escape(std::string_view s);
/// application/x-www-form-urlencoded / query-string encoding.
std::string url_encode(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

}  // namespace dg::text
