#pragma once
/// The config of log sources and log conditions, decoded in their home:
///   [log_sources.NAME]   type = "file" | "journald" | "command", the type's
///                        keys, and the shared ones: header (a format name or
///                        a regex with (?<message>...)), message_key,
///                        level_key, time_key, masks (regexes), similarity,
///                        depth, max_signatures, max_tokens, max_line_bytes.
///   [[policies.X.logs]]  condition = "new_signature" | "surge" |
///                        "error_share", source, name, baseline, window,
///                        step, interval, alpha, min_ratio, level, pattern,
///                        min_count, max_signatures.
/// A log condition becomes one of the policy's conditions (a MetricCondition
/// on the signal source "log:SOURCE" with the condition's settings in
/// `log`), so `combine`, both drivers, the history and the evidence treat it
/// as they treat a metric condition (see log_signal.h).
#include <string>
#include <vector>

#include "agent/core/settings.h"
#include "logs/conditions.h"
#include "logs/log_source.h"
#include "policies/policy_spec.h"

namespace dg {
class ConfigReader;
}

namespace dg::logs {

/// A log condition's settings, as kept in MetricCondition::log.
struct LogConditionSpec {
  std::string kind;    ///< new_signature | surge | error_share
  std::string source;  ///< the log source's name
  LogWindows windows;
  NewSignatureCondition fresh;
  SurgeCondition surge;
  ErrorShareCondition share;
};

/// The prefix of a log condition's signal source: "log:" + the log source.
inline constexpr std::string_view kLogSignalPrefix = "log:";

/// The known `type` values.
std::vector<std::string> log_source_types();
/// Reads [log_sources.NAME] (the reader is at that table).
void decode_log_source(ConfigReader& r, const std::string& name, LogSourceSpec& spec);
/// Reads one [[policies.X.logs]] table into `c` (id "<policy>/<name or index>").
void decode_log_condition(ConfigReader& r, const std::string& policy, size_t index, MetricCondition& c);

}  // namespace dg::logs
