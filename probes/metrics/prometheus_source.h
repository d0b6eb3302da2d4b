#pragma once
/// prometheus source: instant PromQL queries over Prometheus' HTTP API.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/http_client.h"
#include "probes/metrics/metric_source.h"

namespace dg {

struct PrometheusSourceSpec {
  std::string url;  ///< base URL, e.g. http://127.0.0.1:9090
  std::vector<std::pair<std::string, std::string>> headers;  ///< secrets resolved
  Duration timeout{5000};
  bool verify_tls = true;
  HttpRequest::Tls tls;
};

std::unique_ptr<MetricSource> make_prometheus_source(const PrometheusSourceSpec& spec);
/// Registers the type with its config decoder.
void register_prometheus_source(MetricSourceRegistry& registry);

}  // namespace dg
