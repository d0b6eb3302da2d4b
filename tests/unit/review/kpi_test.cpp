// KPI math: nearest-rank percentiles, per-service bests and worsts, the
// monthly trend (UTC), --since, and an incident seen in two journals once.
#include "agent/review/kpi.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/core/text.h"

namespace dg::kpi {
namespace {

review::Incident incident(std::string key, std::string service, std::string tripped, std::optional<long long> ttd,
                          std::optional<long long> ttm) {
  review::Incident i;
  i.key = std::move(key);
  i.service = std::move(service);
  i.tripped = std::move(tripped);
  i.ttd_ms = ttd;
  i.ttm_ms = ttm;
  i.state = ttm ? "mitigated" : "mitigation_failed";
  return i;
}

TEST(Kpi, NearestRank) {
  std::vector<long long> ten{10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
  EXPECT_EQ(nearest_rank(ten, 0.5), 5);  // ⌈5⌉-th
  EXPECT_EQ(nearest_rank(ten, 0.9), 9);  // ⌈9⌉-th, not 10 from 0.9·10 rounding up
  EXPECT_EQ(nearest_rank(ten, 0.91), 10);
  EXPECT_EQ(nearest_rank(ten, 1.0), 10);
  EXPECT_EQ(nearest_rank({1, 2, 3, 4}, 0.5), 2);  // the lower middle: a value that occurred
  EXPECT_EQ(nearest_rank({5, 1, 3}, 0.5), 3);
  EXPECT_EQ(nearest_rank({5, 1, 3}, 0.9), 5);
  EXPECT_EQ(nearest_rank({42}, 0.9), 42);
  EXPECT_FALSE(nearest_rank({}, 0.5));
  EXPECT_FALSE(nearest_rank({1}, 0));
  // A heavy tail moves the p90, not the median.
  EXPECT_EQ(nearest_rank({1, 1, 1, 1, 1, 1, 1, 1, 1, 3600}, 0.5), 1);
  Summary s = summarize({3, 1, 2});
  EXPECT_EQ(s.n, 3u);
  EXPECT_EQ(s.median, 2);
  EXPECT_EQ(s.p90, 3);
}

TEST(Kpi, AcrossJournalsPerServiceAndPerMonth) {
  review::Model a, b;
  a.journal = "a.jsonl";
  b.journal = "b.jsonl";
  a.incidents = {incident("k1", "wiki", "2026-10-30T23:59:59.000Z", 4000, 9000),
                 incident("k2", "wiki", "2026-11-01T00:00:00.000Z", 1000, std::nullopt),
                 incident("k3", "search", "2026-11-15T12:00:00.000Z", 2000, 3000)};
  b.incidents = {incident("k2", "wiki", "2026-11-01T00:00:00.000Z", 1, 1),  // the same incident, seen again
                 incident("k4", "wiki", "2026-11-20T08:00:00.000Z", 3000, 5000)};
  Report r = compute({a, b});
  ASSERT_EQ(r.incidents.size(), 4u);
  EXPECT_EQ(r.incidents[1].key, "k2");
  EXPECT_EQ(r.incidents[1].journal, "a.jsonl") << "the first journal's copy counts";
  EXPECT_EQ(r.ttd.n, 4u);
  EXPECT_EQ(r.ttd.median, 2000);  // {1000, 2000, 3000, 4000}: the 2nd
  EXPECT_EQ(r.ttd.p90, 4000);
  EXPECT_EQ(r.ttm.n, 3u);  // a failed mitigation has no TTM
  EXPECT_EQ(r.ttm.median, 5000);
  EXPECT_EQ(r.ttm.p90, 9000);

  ASSERT_EQ(r.services.size(), 2u);
  EXPECT_EQ(r.services[0].service, "search");
  const ServiceKpi& wiki = r.services[1];
  EXPECT_EQ(wiki.incidents, 3u);
  EXPECT_EQ(wiki.best_ttd->ms, 1000);
  EXPECT_EQ(wiki.best_ttd->key, "k2");
  EXPECT_EQ(wiki.worst_ttd->ms, 4000);
  EXPECT_EQ(wiki.best_ttm->ms, 5000);
  EXPECT_EQ(wiki.best_ttm->key, "k4");
  EXPECT_EQ(wiki.worst_ttm->key, "k1");

  ASSERT_EQ(r.months.size(), 2u);
  EXPECT_EQ(r.months[0].month, "2026-10");
  EXPECT_EQ(r.months[0].incidents, 1u);
  EXPECT_EQ(r.months[1].month, "2026-11");
  EXPECT_EQ(r.months[1].incidents, 3u);
  EXPECT_EQ(r.months[1].ttd.median, 2000);
  EXPECT_EQ(r.months[1].ttm.median, 3000);  // {3000, 5000}

  Report since = compute({a, b}, text::parse_rfc3339("2026-11-01T00:00:00.000Z"));
  EXPECT_EQ(since.incidents.size(), 3u) << "at or after";
  EXPECT_EQ(since.months.size(), 1u);

  boost::json::object j = to_json(r);
  EXPECT_EQ(j.at("percentiles"), "nearest-rank");
  EXPECT_EQ(j.at("ttd").at("median_ms"), 2000);
  EXPECT_TRUE(j.at("incidents").as_array()[1].at("ttm_ms").is_null());
  EXPECT_EQ(j.at("services").as_array()[1].at("worst_ttm").at("incident"), "k1");
  std::string table = render_table(r);
  EXPECT_NE(table.find("nearest-rank"), std::string::npos);
  EXPECT_NE(table.find("2026-10"), std::string::npos);
  EXPECT_NE(table.find("wiki — 3 incident(s)"), std::string::npos);
}

TEST(Kpi, NoIncidents) {
  Report r = compute({});
  EXPECT_TRUE(r.incidents.empty());
  EXPECT_FALSE(r.ttd.median);
  EXPECT_TRUE(to_json(r).at("ttd").at("p90_ms").is_null());
  EXPECT_NE(render_table(r).find("0 incident(s)"), std::string::npos);
}

}  // namespace
}  // namespace dg::kpi
