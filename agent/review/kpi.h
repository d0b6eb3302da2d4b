#pragma once
/// Incident KPIs across journals: per incident time to detect (release start
/// → trip) and time to mitigate (release start → users recovered), their
/// median and 90th percentile (nearest rank: the ⌈p·n⌉-th smallest, a value
/// that occurred; averages mislead on heavy-tailed incident durations), the
/// best and worst per service, and the trend per calendar month (UTC). Pure:
/// computed from review models (review.h).
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/review/review.h"

namespace dg::kpi {

struct IncidentKpi {
  std::string key, service, policy, state, tripped, journal;
  bool alarm = false;
  std::optional<long long> ttd_ms, ttm_ms;
};

struct Summary {
  size_t n = 0;  ///< incidents with a value
  std::optional<long long> median, p90;
};

/// A value and the incident it came from.
struct Extreme {
  long long ms = 0;
  std::string key;
};

struct ServiceKpi {
  std::string service;
  size_t incidents = 0;
  std::optional<Extreme> best_ttd, worst_ttd, best_ttm, worst_ttm;
};

struct MonthKpi {
  std::string month;  ///< "2026-12"
  size_t incidents = 0;
  Summary ttd, ttm;
};

struct Report {
  std::vector<IncidentKpi> incidents;  ///< in trip order
  Summary ttd, ttm;
  std::vector<ServiceKpi> services;  ///< by name
  std::vector<MonthKpi> months;      ///< oldest first
};

/// The ⌈p·n⌉-th smallest (1-based; p in (0, 1]); nullopt for no values.
std::optional<long long> nearest_rank(std::vector<long long> values, double p);
Summary summarize(const std::vector<long long>& values);

/// One report over several journals' models; an incident key seen in two
/// journals counts once (the first). `since`: incidents tripped at or after.
Report compute(const std::vector<review::Model>& models, std::optional<TimePoint> since = std::nullopt);

std::string render_table(const Report& r);
boost::json::object to_json(const Report& r);

}  // namespace dg::kpi
