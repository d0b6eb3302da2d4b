// The built-in metric source types; each registers its factory and config
// decoder in its own home.
#include "probes/metrics/metric_source.h"
#include "probes/metrics/prometheus_source.h"
#include "probes/metrics/scrape_source.h"

namespace dg {

void register_builtin_metric_sources(MetricSourceRegistry& registry) {
  register_prometheus_source(registry);
  register_scrape_source(registry);
}

const MetricSourceRegistry& builtin_metric_sources() { return built_in_once(register_builtin_metric_sources); }

}  // namespace dg
