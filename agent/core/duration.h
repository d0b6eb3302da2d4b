#pragma once
/// Human durations as written in config: "500ms", "10s", "2m", "1h", "1m30s".
#include <string>
#include <string_view>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

Result<Duration> parse_duration(std::string_view text);
/// Shortest exact spelling: 1500ms -> "1.5s", 120000ms -> "2m".
std::string format_duration(Duration d);

}  // namespace dg
