#include "agent/core/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace dg {

Result<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return fail("empty duration (write e.g. \"500ms\", \"10s\", \"2m\")");
  double total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t n = 0;
    while (n < rest.size() && ((rest[n] >= '0' && rest[n] <= '9') || rest[n] == '.')) ++n;
    if (n == 0) {
      if (rest[0] == '-') return fail(fmt::format("negative duration \"{}\"", text));
      return fail(fmt::format("invalid duration \"{}\" (write e.g. \"500ms\", \"10s\", \"2m\")", text));
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + n, value);
    if (ec != std::errc{} || ptr != rest.data() + n)
      return fail(fmt::format("invalid number in duration \"{}\"", text));
    rest.remove_prefix(n);
    size_t unit_len = 0;
    while (unit_len < rest.size() && rest[unit_len] >= 'a' && rest[unit_len] <= 'z') ++unit_len;
    std::string_view unit = rest.substr(0, unit_len);
    double factor = 0;
    if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1000;
    else if (unit == "m") factor = 60'000;
    else if (unit == "h") factor = 3'600'000;
    else if (unit.empty())
      return fail(fmt::format("duration \"{}\" has no unit (use ms, s, m or h)", text));
    else
      return fail(fmt::format("unknown unit \"{}\" in duration \"{}\" (use ms, s, m or h)", unit, text));
    total_ms += value * factor;
    if (total_ms > 1e12) return fail(fmt::format("duration \"{}\" is too large", text));
    rest.remove_prefix(unit_len);
  }
  double rounded = std::round(total_ms);
  if (std::abs(rounded - total_ms) > 1e-6) return fail(fmt::format("duration \"{}\" is finer than a millisecond", text));
  return Duration{static_cast<long long>(rounded)};
}

std::string format_duration(Duration d) {
  long long ms = d.count();
  if (ms % 3'600'000 == 0 && ms != 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0 && ms != 0) return fmt::format("{}m", ms / 60'000);
  if (ms >= 1000) {
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{:.3g}s", static_cast<double>(ms) / 1000.0);
  }
  return fmt::format("{}ms", ms);
}

}  // namespace dg
