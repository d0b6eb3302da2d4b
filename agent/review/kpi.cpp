#include "agent/review/kpi.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <map>
#include <set>

#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg::kpi {
namespace {

namespace json = boost::json;

json::value opt_json(const std::optional<long long>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::object summary_json(const Summary& s) {
  return {{"n", s.n}, {"median_ms", opt_json(s.median)}, {"p90_ms", opt_json(s.p90)}};
}

json::value extreme_json(const std::optional<Extreme>& e) {
  if (!e) return nullptr;
  return json::object{{"ms", e->ms}, {"incident", e->key}};
}

std::string cell(const std::optional<long long>& ms) { return ms ? review::human_ms(*ms) : "—"; }
std::string cell(const std::optional<Extreme>& e) {
  return e ? fmt::format("{} ({})", review::human_ms(e->ms), e->key) : "—";
}

void keep_extremes(std::optional<Extreme>& best, std::optional<Extreme>& worst, const std::optional<long long>& v,
                   const std::string& key) {
  if (!v) return;
  if (!best || *v < best->ms) best = Extreme{*v, key};
  if (!worst || *v > worst->ms) worst = Extreme{*v, key};
}

}  // namespace

std::optional<long long> nearest_rank(std::vector<long long> values, double p) {
  if (values.empty() || p <= 0 || p > 1) return std::nullopt;
  std::sort(values.begin(), values.end());
  // ⌈p·n⌉, computed so that 0.9 · 10 is 9, not 9.000000000000002 → 10.
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size()) - 1e-9));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

Summary summarize(const std::vector<long long>& values) {
  return {.n = values.size(), .median = nearest_rank(values, 0.5), .p90 = nearest_rank(values, 0.9)};
}

Report compute(const std::vector<review::Model>& models, std::optional<TimePoint> since) {
  Report r;
  std::set<std::string> seen;
  for (const auto& m : models)
    for (const auto& i : m.incidents) {
      if (!seen.insert(i.key).second) continue;
      if (since) {
        auto t = text::parse_rfc3339(i.tripped);
        if (!t || *t < *since) continue;
      }
      r.incidents.push_back({.key = i.key,
                             .service = i.service,
                             .policy = i.policy,
                             .state = i.state,
                             .tripped = i.tripped,
                             .journal = m.journal,
                             .alarm = i.alarm,
                             .ttd_ms = i.ttd_ms,
                             .ttm_ms = i.ttm_ms});
    }
  std::stable_sort(r.incidents.begin(), r.incidents.end(),
                   [](const auto& a, const auto& b) { return a.tripped < b.tripped; });
  std::vector<long long> ttd, ttm;
  std::map<std::string, ServiceKpi> services;
  std::map<std::string, std::pair<std::vector<long long>, std::vector<long long>>> month_values;
  std::map<std::string, size_t> month_count;
  for (const auto& i : r.incidents) {
    if (i.ttd_ms) ttd.push_back(*i.ttd_ms);
    if (i.ttm_ms) ttm.push_back(*i.ttm_ms);
    ServiceKpi& s = services[i.service];
    s.service = i.service;
    ++s.incidents;
    keep_extremes(s.best_ttd, s.worst_ttd, i.ttd_ms, i.key);
    keep_extremes(s.best_ttm, s.worst_ttm, i.ttm_ms, i.key);
    // Records are stamped in UTC (RFC 3339 with Z): the month is its first 7 characters.
    std::string month = i.tripped.size() >= 7 ? i.tripped.substr(0, 7) : "unknown";
    ++month_count[month];
    if (i.ttd_ms) month_values[month].first.push_back(*i.ttd_ms);
    if (i.ttm_ms) month_values[month].second.push_back(*i.ttm_ms);
  }
  r.ttd = summarize(ttd);
  r.ttm = summarize(ttm);
  for (auto& [name, s] : services) r.services.push_back(std::move(s));
  for (const auto& [month, n] : month_count)
    r.months.push_back({.month = month,
                        .incidents = n,
                        .ttd = summarize(month_values[month].first),
                        .ttm = summarize(month_values[month].second)});
  return r;
}

std::string render_table(const Report& r) {
  std::string o;
  o += fmt::format(
      "{} incident(s). TTD: release start → detected (tripped or alarm raised); TTM: release start → users "
      "recovered. Percentiles are nearest-rank (the ⌈p·n⌉-th smallest value).\n\n",
      r.incidents.size());
  o += fmt::format("{:<28} {:<12} {:<22} {:<18} {:<24} {:>12} {:>12}\n", "incident", "service", "policy", "state",
                   "detected", "TTD", "TTM");
  for (const auto& i : r.incidents)
    o += fmt::format("{:<28} {:<12} {:<22} {:<18} {:<24} {:>12} {:>12}\n", i.key, i.service,
                     i.policy.empty() ? (i.alarm ? "(alarm)" : "—") : i.policy, i.state, i.tripped, cell(i.ttd_ms),
                     cell(i.ttm_ms));
  o += fmt::format("\n{:<8} {:>4} {:>12} {:>12}\n", "", "n", "median", "p90");
  o += fmt::format("{:<8} {:>4} {:>12} {:>12}\n", "TTD", r.ttd.n, cell(r.ttd.median), cell(r.ttd.p90));
  o += fmt::format("{:<8} {:>4} {:>12} {:>12}\n", "TTM", r.ttm.n, cell(r.ttm.median), cell(r.ttm.p90));
  o += "\nper service (personal best and worst):\n";
  for (const auto& s : r.services)
    o += fmt::format("  {} — {} incident(s); TTD best {}, worst {}; TTM best {}, worst {}\n", s.service, s.incidents,
                     cell(s.best_ttd), cell(s.worst_ttd), cell(s.best_ttm), cell(s.worst_ttm));
  o += "\nper month (UTC):\n";
  o += fmt::format("  {:<8} {:>9} {:>14} {:>14}\n", "month", "incidents", "median TTD", "median TTM");
  for (const auto& m : r.months)
    o += fmt::format("  {:<8} {:>9} {:>14} {:>14}\n", m.month, m.incidents, cell(m.ttd.median), cell(m.ttm.median));
  return secrets::redact(o);
}

json::object to_json(const Report& r) {
  json::array incidents, services, months;
  for (const auto& i : r.incidents)
    incidents.push_back({{"key", i.key},
                         {"service", i.service},
                         {"policy", i.policy},
                         {"state", i.state},
                         {"alarm", i.alarm},
                         {"detected", i.tripped},
                         {"journal", i.journal},
                         {"ttd_ms", opt_json(i.ttd_ms)},
                         {"ttm_ms", opt_json(i.ttm_ms)}});
  for (const auto& s : r.services)
    services.push_back({{"service", s.service},
                        {"incidents", s.incidents},
                        {"best_ttd", extreme_json(s.best_ttd)},
                        {"worst_ttd", extreme_json(s.worst_ttd)},
                        {"best_ttm", extreme_json(s.best_ttm)},
                        {"worst_ttm", extreme_json(s.worst_ttm)}});
  for (const auto& m : r.months)
    months.push_back(
        {{"month", m.month}, {"incidents", m.incidents}, {"ttd", summary_json(m.ttd)}, {"ttm", summary_json(m.ttm)}});
  json::value v = json::object{{"percentiles", "nearest-rank"}, {"incidents", incidents}, {"ttd", summary_json(r.ttd)},
                               {"ttm", summary_json(r.ttm)},    {"services", services},   {"months", months}};
  secrets::redact_json(v);
  return v.as_object();
}

}  // namespace dg::kpi
