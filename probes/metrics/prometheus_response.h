#pragma once
/// Pure decoding of a Prometheus HTTP API answer (/api/v1/query). Defensive:
/// proxies answer HTML, errors carry errorType, warnings may ride along with
/// valid data, values are strings ("NaN", "+Inf", "1e-07").
#include <string_view>

#include "agent/core/error.h"
#include "probes/metrics/metric_source.h"

namespace dg {

/// Turns one answer into a reading: Ok with the finite series, NoData when the
/// result is empty or every value is NaN/±Inf (said in `detail`), Error for
/// anything that is not a successful API answer. `at`/`signal`/`query` are
/// left for the caller.
MetricReading decode_prometheus_answer(int http_status, std::string_view content_type, std::string_view body);

}  // namespace dg
