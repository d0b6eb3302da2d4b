#pragma once
/// MetricSource: where numbers come from — Prometheus' query API or a
/// service's own /metrics. read() is blocking and never throws; it returns a
/// MetricReading whose status separates a value (Ok), an answer without a
/// usable value (NoData: empty result, NaN, ±Inf — never zero, never
/// healthy) and a failure to get an answer (Error).
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/metric_reading.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"
#include "probes/metrics/exposition.h"

namespace dg {

struct MetricSourceSpec {
  std::string name;
  std::string type;  ///< a registered source type (probes/metrics/registry.cpp)
  /// How conditions select from it, and whether it can answer for a time
  /// before the release (a baseline): set by the type's decoder, checked by
  /// the loader against every condition that names the source.
  enum class Queries { PromQL, Selection } queries = Queries::PromQL;
  bool has_history = false;
  Settings kind;  ///< the type's own settings, decoded in its home
};

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  /// Evaluates `query` now (Prometheus: instant query at `at`, if set).
  virtual MetricReading read(const MetricQuery& query, const Clock& clock, std::optional<TimePoint> at = std::nullopt) = 0;
  /// The same read on the loop: `done` once, on the loop's thread, never from
  /// inside start_read(). The query must outlive the read (it lives in the
  /// config snapshot the caller holds). Default: read() offloaded to a thread.
  virtual void start_read(AsyncIo& io, const MetricQuery& query, const Clock& clock, std::optional<TimePoint> at,
                          std::function<void(MetricReading)> done);
  /// A release of `service` started at `at`. Sources whose answers are "since
  /// the release" (the log signals, logs/log_signal.h) move their window;
  /// the others have nothing to do. Called on the engine's thread.
  virtual void release_started(const std::string& service, TimePoint at) {
    (void)service;
    (void)at;
  }
};

struct MetricSourceRegistry : Registry<MetricSourceSpec, MetricSource> {
  MetricSourceRegistry() : Registry("metric source") {}
};

void register_builtin_metric_sources(MetricSourceRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const MetricSourceRegistry& builtin_metric_sources();

}  // namespace dg
