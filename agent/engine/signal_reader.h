#pragma once
/// Reads one metric condition's look from its source: the plain query, both
/// arms of a compare, or the four counters of a canary — read at one instant,
/// side by side, so a look costs its source's timeout once. A canary look is
/// delivered raw (each arm's series tagged with kArmLabel); the engine folds
/// it into the condition's sequential test. Blocking (verify's tasks) or on
/// the event loop (watch).
#include <functional>
#include <optional>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/metric_reading.h"
#include "policies/policy_spec.h"
#include "probes/metrics/metric_source.h"

namespace dg {

/// The label that carries a raw canary series' arm (0..3, CanaryArm order).
inline constexpr const char* kArmLabel = "__dg_arm";

/// One look, blocking. `parallel` reads the queries of one look on their own
/// threads (false: one after the other, for deterministic tests).
MetricReading read_condition(MetricSource& source, const MetricCondition& c, const Clock& clock, bool parallel);
/// The same look on the loop; `done` once, on the loop's thread. The
/// condition and source must outlive the read.
void start_read_condition(AsyncIo& io, MetricSource& source, const MetricCondition& c, const Clock& clock,
                          std::function<void(MetricReading)> done);
/// The pre-release value of a baseline condition (its query as of `at`).
MetricReading read_baseline(MetricSource& source, const MetricCondition& c, const Clock& clock, TimePoint at);
void start_read_baseline(AsyncIo& io, MetricSource& source, const MetricCondition& c, const Clock& clock, TimePoint at,
                         std::function<void(MetricReading)> done);

}  // namespace dg
