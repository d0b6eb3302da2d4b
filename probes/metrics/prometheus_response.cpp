#include "probes/metrics/prometheus_response.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "probes/metrics/exposition_number.h"

namespace dg {
namespace {

namespace json = boost::json;

MetricReading error(std::string detail) {
  MetricReading r;
  r.status = ReadingStatus::Error;
  r.detail = std::move(detail);
  return r;
}

std::optional<double> value_of(const json::value& pair) {
  // [ <unix seconds>, "<value>" ]
  if (!pair.is_array() || pair.get_array().size() != 2 || !pair.get_array()[1].is_string()) return std::nullopt;
  std::string_view s = pair.get_array()[1].get_string();
  return parse_sample_value(s);
}

Labels labels_of(const json::value& metric) {
  Labels out;
  if (!metric.is_object()) return out;
  for (const auto& kv : metric.get_object())
    out.emplace_back(std::string(kv.key()), kv.value().is_string() ? std::string(kv.value().get_string()) : json::serialize(kv.value()));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

MetricReading decode_prometheus_answer(int http_status, std::string_view content_type, std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed || !parsed->is_object()) {
    return error(fmt::format("HTTP {} with a non-JSON body ({}): {}", http_status,
                             content_type.empty() ? "no content type" : std::string(content_type),
                             secrets::excerpt(body, 160)));
  }
  const json::object& doc = parsed->get_object();
  MetricReading r;
  if (const auto* w = doc.if_contains("warnings"); w && w->is_array())
    for (const auto& e : w->get_array())
      r.warnings.push_back(e.is_string() ? std::string(e.get_string()) : json::serialize(e));
  // Warnings are evidence on every path, errors included.
  auto keep = [&](std::string detail) {
    MetricReading e = error(std::move(detail));
    e.warnings = r.warnings;
    return e;
  };
  const json::value* status = doc.if_contains("status");
  if (!status || !status->is_string()) return keep(fmt::format("HTTP {}: answer has no status field", http_status));
  if (status->get_string() != "success") {
    auto str = [&](const char* key) {
      const json::value* v = doc.if_contains(key);
      return v && v->is_string() ? std::string(v->get_string()) : std::string("unknown");
    };
    MetricReading e = error(fmt::format("HTTP {}: {}: {}", http_status, str("errorType"), secrets::excerpt(str("error"), 300)));
    e.warnings = r.warnings;
    return e;
  }
  if (http_status < 200 || http_status >= 300)
    return keep(fmt::format("HTTP {} despite status \"success\"", http_status));
  const json::value* data = doc.if_contains("data");
  if (!data || !data->is_object()) return keep("answer has no data object");
  const json::value* type = data->get_object().if_contains("resultType");
  const json::value* result = data->get_object().if_contains("result");
  if (!type || !type->is_string() || !result) return keep("answer has no resultType/result");
  std::string_view rt = type->get_string();

  size_t total = 0, dropped = 0, malformed = 0;
  auto take = [&](Labels labels, std::optional<double> v) {
    ++total;
    if (!v) {
      ++malformed;  // not a value at all: a broken answer, not missing data
      return;
    }
    if (std::isnan(*v) || std::isinf(*v)) {
      ++dropped;
      return;
    }
    r.series.push_back({std::move(labels), *v});
  };
  if (rt == "vector") {
    if (!result->is_array()) return keep("vector result is not an array");
    for (const auto& s : result->get_array()) {
      if (!s.is_object()) return keep("vector element is not an object");
      const auto& o = s.get_object();
      if (o.contains("histogram")) return keep("native histogram results are not supported; query a classic metric or use histogram_quantile()");
      const json::value* v = o.if_contains("value");
      if (!v) return keep("vector element has no value");
      take(labels_of(o.contains("metric") ? o.at("metric") : json::value()), value_of(*v));
    }
  } else if (rt == "scalar") {
    take({}, value_of(*result));
  } else if (rt == "matrix") {
    // Use each series' newest point: a range query answered where an instant one was meant.
    if (!result->is_array()) return keep("matrix result is not an array");
    for (const auto& s : result->get_array()) {
      if (!s.is_object()) return keep("matrix element is not an object");
      const auto& o = s.get_object();
      if (o.contains("histograms"))
        return keep("native histogram results are not supported; query a classic metric or use histogram_quantile()");
      const json::value* values = o.if_contains("values");
      if (!values || !values->is_array() || values->get_array().empty()) {
        ++total;
        ++malformed;
        continue;
      }
      take(labels_of(o.contains("metric") ? o.at("metric") : json::value()), value_of(values->get_array().back()));
    }
  } else {
    return keep(fmt::format("result type \"{}\" is not a number", std::string(rt)));
  }
  if (malformed) return keep(fmt::format("{} of {} series in the answer carry no readable value", malformed, total));
  if (r.series.empty()) {
    r.status = ReadingStatus::NoData;
    r.detail = total == 0 ? "empty result (no series matched)"
                          : fmt::format("no usable value: {} series, all NaN or infinite", total);
    return r;
  }
  r.status = ReadingStatus::Ok;
  if (dropped) r.detail = fmt::format("{} of {} series had no usable value (NaN or infinite)", dropped, total);
  std::sort(r.series.begin(), r.series.end(), [](const SeriesValue& a, const SeriesValue& b) { return a.labels < b.labels; });
  return r;
}

}  // namespace dg
