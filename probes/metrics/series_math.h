#pragma once
/// Pure arithmetic over scraped series: counter rates with reset handling and
/// quantiles estimated from cumulative histogram buckets (as PromQL's
/// rate() and histogram_quantile() do).
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

namespace dg {

struct Point {
  double t;  ///< seconds
  double v;
};

/// Adds a point at `t`, or replaces the newest when it is at `t` already (two
/// conditions reading one scrape add one point, not two).
void upsert_point(std::deque<Point>& points, double t, double v);

/// Drops points older than `window` seconds before the newest, keeping one
/// point at or before the window's start so the rate covers the whole window,
/// unless it is older than two windows (a gap): then it is dropped too.
void trim_window(std::deque<Point>& points, double window);

/// Per-second increase over the points; a value lower than its predecessor is
/// a counter reset (the counter restarted from zero). Needs two points.
std::optional<double> counter_rate(const std::deque<Point>& points);

struct Bucket {
  double le;     ///< upper bound; +Inf for the last
  double count;  ///< cumulative
};

std::optional<double> parse_le(std::string_view le);

/// Linear interpolation inside the bucket holding rank q·total; NaN when there
/// are no observations or no +Inf bucket. Buckets may come in any order.
double histogram_quantile(double q, std::vector<Bucket> buckets);

}  // namespace dg
