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
#include <variant>
#include <utility>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/metric_reading.h"
#include "agent/core/registry.h"
#include "probes/metrics/exposition.h"

namespace dg {

struct PrometheusSourceSpec {
  std::string url;  ///< base URL, e.g. http://127.0.0.1:9090
  std::vector<std::pair<std::string, std::string>> headers;  ///< secrets resolved
  Duration timeout{5000};
  bool verify_tls = true;
};

struct ScrapeSourceSpec {
  std::string url;  ///< the /metrics URL
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout{5000};
  bool verify_tls = true;
  ExpositionLimits limits;  ///< bounds on one scrape's exposition
  /// Cap on the (decompressed) exposition; the read stops there and the
  /// reading is an error. Bounds memory against a hostile or runaway target.
  size_t max_body = 16 * 1024 * 1024;
};

struct MetricSourceSpec {
  std::string name;
  std::string type;  ///< "prometheus" | "scrape"
  std::variant<PrometheusSourceSpec, ScrapeSourceSpec> kind;
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
};

struct MetricSourceRegistry : Registry<MetricSourceSpec, MetricSource> {
  MetricSourceRegistry() : Registry("metric source") {}
};

void register_builtin_metric_sources(MetricSourceRegistry& registry);

}  // namespace dg
