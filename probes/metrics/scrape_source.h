#pragma once
/// scrape source: a service's own /metrics, parsed strictly, with counter
/// rates and histogram quantiles from the scrapes it keeps.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/http_client.h"
#include "probes/metrics/metric_source.h"

namespace dg {

struct ScrapeSourceSpec {
  std::string url;  ///< the /metrics URL
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout{5000};
  bool verify_tls = true;
  HttpRequest::Tls tls;
  ExpositionLimits limits;  ///< bounds on one scrape's exposition
  /// Cap on the (decompressed) exposition; the read stops there and the
  /// reading is an error. Bounds memory against a hostile or runaway target.
  size_t max_body = 16 * 1024 * 1024;
};

std::unique_ptr<MetricSource> make_scrape_source(const ScrapeSourceSpec& spec);
/// Registers the type with its config decoder.
void register_scrape_source(MetricSourceRegistry& registry);

}  // namespace dg
