#include "probes/metrics/series_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "probes/metrics/exposition_number.h"

namespace dg {

void upsert_point(std::deque<Point>& points, double t, double v) {
  if (!points.empty() && points.back().t == t) points.back().v = v;
  else points.push_back({t, v});
}

void trim_window(std::deque<Point>& points, double window) {
  if (points.empty()) return;
  double start = points.back().t - window;
  while (points.size() > 2 && points[1].t <= start) points.pop_front();
  // After a long gap (the target or the source was away) the old point would
  // stretch the rate over the gap: start again, as PromQL's window would.
  while (points.size() > 1 && points.front().t < points.back().t - 2 * window) points.pop_front();
}

std::optional<double> counter_rate(const std::deque<Point>& points) {
  if (points.size() < 2) return std::nullopt;
  double increase = 0;
  for (size_t i = 1; i < points.size(); ++i) {
    double d = points[i].v - points[i - 1].v;
    increase += d >= 0 ? d : points[i].v;  // reset: it counted up from zero again
  }
  double span = points.back().t - points.front().t;
  if (span <= 0) return std::nullopt;
  return increase / span;
}

std::optional<double> parse_le(std::string_view le) { return parse_sample_value(le); }

double histogram_quantile(double q, std::vector<Bucket> buckets) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (buckets.empty() || std::isnan(q)) return nan;
  // Out-of-range q first, as PromQL does.
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::sort(buckets.begin(), buckets.end(), [](const Bucket& a, const Bucket& b) { return a.le < b.le; });
  if (!std::isinf(buckets.back().le)) return nan;
  // Cumulative counts must not decrease; scrape races can break that slightly.
  for (size_t i = 1; i < buckets.size(); ++i) buckets[i].count = std::max(buckets[i].count, buckets[i - 1].count);
  double total = buckets.back().count;
  if (total <= 0) return nan;
  double rank = q * total;
  size_t i = 0;
  while (i < buckets.size() - 1 && buckets[i].count < rank) ++i;
  if (i == buckets.size() - 1) return buckets.size() >= 2 ? buckets[buckets.size() - 2].le : nan;
  double lo = i == 0 ? 0 : buckets[i - 1].le;
  double lo_count = i == 0 ? 0 : buckets[i - 1].count;
  if (i == 0 && buckets[0].le <= 0) return buckets[0].le;
  double in_bucket = buckets[i].count - lo_count;
  if (in_bucket <= 0) return buckets[i].le;
  return lo + (buckets[i].le - lo) * (rank - lo_count) / in_bucket;
}

}  // namespace dg
