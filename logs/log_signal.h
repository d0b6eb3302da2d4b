#pragma once
/// Log conditions as signals: one MetricSource per log source, registered
/// under "log:NAME" beside the metric sources, so both drivers read a log
/// condition on its interval exactly as they read a metric condition. A read
/// first drains what the source has (never blocking), mines it into the
/// source's tally, then judges the condition named by the query (pure,
/// logs/conditions.h). The reading is 1 when the condition trips, 0 when it
/// holds, NoData before there is anything to judge; its detail carries the
/// evidence (signature, counts before and after with window lengths, first
/// seen, a redacted example, the test's statistic), which the evaluator
/// makes the reason. The source is opened on the first read, with the
/// release one whole second after it: what it found already written is the
/// baseline; a release announced later (watch: release_started) moves the
/// release, the tally keeping the baseline before it. Thread-safe (verify
/// reads from several threads).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "logs/config.h"
#include "probes/metrics/metric_source.h"

namespace dg::logs {

/// Adds a signal source for every log source that a policy's log condition
/// uses, keyed "log:NAME".
void add_log_signal_sources(const std::vector<LogSourceSpec>& sources, const std::vector<PolicySpec>& policies,
                            std::map<std::string, std::unique_ptr<MetricSource>>& out);

/// The miners' states, per "log:NAME" (JSON text of Miner::to_json), for the
/// watcher's checkpoint: signatures keep their ids across a restart.
std::vector<std::pair<std::string, std::string>> log_signal_states(const std::map<std::string, std::unique_ptr<MetricSource>>& sources);
/// Gives each log signal source its miner's state from a checkpoint, taken
/// when it opens; a state that does not fit (another depth) is dropped.
void restore_log_signal_states(std::map<std::string, std::unique_ptr<MetricSource>>& sources,
                               const std::vector<std::pair<std::string, std::string>>& states);

}  // namespace dg::logs
