#pragma once
/// Log levels, normalised: every source and header format maps its own
/// spelling (ERROR, err, E, syslog priority 3, "severe") onto one order, so a
/// condition says "error or above" once for all of them.
#include <cstdint>
#include <optional>
#include <string_view>

namespace dg::logs {

enum class Level : uint8_t { Unknown = 0, Trace, Debug, Info, Notice, Warning, Error, Critical };

/// "warn", "WARNING", "W", "[error]", "Err", "fatal", "panic", ... ; nullopt
/// when the word is no level. Single letters are accepted only when `letters`.
std::optional<Level> parse_level(std::string_view word, bool letters = true);
/// syslog / journald PRIORITY 0..7.
Level level_of_priority(int priority);
std::string_view level_name(Level l);

}  // namespace dg::logs
