#include "agent/engine/records.h"

#include "agent/core/text.h"

namespace dg::records {

namespace json = boost::json;

json::object to_json(const Observation& o) {
  json::object j{{"probe", o.signal},
                 {"at", text::rfc3339(o.at)},
                 {"outcome", to_string(o.outcome)},
                 {"latency_ms", o.latency.count()},
                 {"detail", o.detail}};
  if (!o.excerpt.empty()) j["excerpt"] = o.excerpt;
  if (!o.phases_ms.empty()) {
    json::object phases;
    for (const auto& [name, ms] : o.phases_ms) phases[name] = ms;
    j["phases_ms"] = std::move(phases);
  }
  if (!o.artifacts.empty()) {
    json::array files;
    for (const auto& a : o.artifacts)
      files.push_back({{"kind", a.kind}, {"path", a.path}, {"sha256", a.sha256}, {"bytes", a.bytes}});
    j["artifacts"] = std::move(files);
  }
  return j;
}

json::object to_json(const MetricReading& r) {
  json::array series;
  for (const auto& s : r.series) series.push_back({{"labels", labels_key(s.labels)}, {"value", s.value}});
  json::object j{{"condition", r.signal}, {"at", text::rfc3339(r.at)}, {"status", to_string(r.status)},
                 {"query", r.query}, {"series", series}};
  if (!r.detail.empty()) j["detail"] = r.detail;
  if (!r.warnings.empty()) j["warnings"] = to_json(r.warnings);
  return j;
}

json::array to_json(const std::vector<MetricReading>& readings) {
  json::array a;
  for (const auto& r : readings) a.push_back(to_json(r));
  return a;
}

json::array to_json(const std::vector<Observation>& obs) {
  json::array a;
  for (const auto& o : obs) a.push_back(to_json(o));
  return a;
}

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object stats_json(const Verdict& v) {
  json::object o;
  for (const auto& [k, x] : v.stats) o[k] = x;
  return o;
}

}  // namespace dg::records
