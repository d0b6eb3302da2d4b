#include "probes/probe.h"

#include <memory>

#include "probes/metrics/metric_source.h"

namespace dg {

void Probe::start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) {
  auto result = std::make_shared<Observation>();
  offload(io.loop, [this, &clock, result] { *result = run(clock); },
          [result, done = std::move(done)] { done(std::move(*result)); });
}

void MetricSource::start_read(AsyncIo& io, const MetricQuery& query, const Clock& clock, std::optional<TimePoint> at,
                              std::function<void(MetricReading)> done) {
  auto result = std::make_shared<MetricReading>();
  offload(io.loop, [this, &query, &clock, at, result] { *result = read(query, clock, at); },
          [result, done = std::move(done)] { done(std::move(*result)); });
}

}  // namespace dg
