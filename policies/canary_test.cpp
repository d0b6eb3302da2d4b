#include "policies/canary_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace dg {
namespace {

// Ratios the state tracks. Dense where verdicts are made (1-5x), a few far
// out so that a canary failing everything trips on a handful of errors.
constexpr double kGrid[] = {0.25, 0.5, 0.75, 1, 1.1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 7, 10, 20, 30, 50, 100};

// The trip mixture over ratios above 1: most weight on the modest regressions
// a canary exists to catch (tuned with bench/canary_decision_sim.cpp; any
// fixed weights summing to 1 keep the test valid).
struct Weighted {
  double ratio, weight;
};
constexpr Weighted kTrip[] = {{1.25, 0.04}, {1.5, 0.16}, {1.75, 0.16}, {2, 0.2}, {2.5, 0.14},
                              {3, 0.1},     {5, 0.08},   {10, 0.06},  {30, 0.04}, {100, 0.02}};

double log_sum_exp(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

size_t index_of(const CanaryState& s, double r) {
  auto it = std::lower_bound(s.ratios.begin(), s.ratios.end(), r * (1 - 1e-12));
  return static_cast<size_t>(it - s.ratios.begin());
}

// The alternatives (index, weight) below null ratio ratios[k]: half the weight
// on "as good as the baseline" (what a healthy canary is), the rest spread
// evenly over the other grid ratios below the null.
std::vector<std::pair<size_t, double>> below(const CanaryState& s, size_t k) {
  std::vector<std::pair<size_t, double>> out;
  size_t one = index_of(s, 1.0);
  bool has_one = one < k;
  size_t others = k - (has_one ? 1 : 0);
  for (size_t i = 0; i < k; ++i) {
    if (i == one) out.emplace_back(i, others > 0 ? 0.5 : 1.0);
    else out.emplace_back(i, (has_one ? 0.5 : 1.0) / static_cast<double>(others));
  }
  return out;
}

double log_mixture(const CanaryState& s, size_t null_k, const std::vector<std::pair<size_t, double>>& alts) {
  std::vector<double> terms;
  for (auto [i, w] : alts) terms.push_back(std::log(w) + s.loglik[i] - s.loglik[null_k]);
  return log_sum_exp(terms);
}

}  // namespace

ArmCounts& ArmCounts::operator+=(const ArmCounts& o) {
  canary_errors += o.canary_errors;
  canary_total += o.canary_total;
  baseline_errors += o.baseline_errors;
  baseline_total += o.baseline_total;
  return *this;
}

CanaryState canary_start(double max_ratio) {
  CanaryState s;
  s.max_ratio = max_ratio;
  s.ratios.assign(std::begin(kGrid), std::end(kGrid));
  bool present = std::any_of(s.ratios.begin(), s.ratios.end(), [&](double r) { return std::abs(r - max_ratio) <= 1e-12 * r; });
  if (!present) s.ratios.insert(std::upper_bound(s.ratios.begin(), s.ratios.end(), max_ratio), max_ratio);
  s.loglik.assign(s.ratios.size(), 0.0);
  return s;
}

CanaryState canary_fold(CanaryState s, const ArmCounts& inc) {
  s.counted += inc;
  s.pending += inc;
  const ArmCounts& d = s.pending;
  // An interval in which one arm served nothing says nothing about the ratio
  // yet: its counts wait for the next interval with traffic on both arms.
  if (d.canary_total <= 0 || d.baseline_total <= 0) return s;
  double e1 = std::max(0.0, d.canary_errors), e0 = std::max(0.0, d.baseline_errors);
  if (e1 + e0 > 0) {
    double l1 = std::log(d.canary_total), l0 = std::log(d.baseline_total);
    double top = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < s.ratios.size(); ++i) {
      double r = s.ratios[i];
      double lz = std::log(r * d.canary_total + d.baseline_total);
      // e1*log(theta) + e0*log(1-theta), theta = r*n1/(r*n1+n0)
      s.loglik[i] += e1 * (std::log(r) + l1 - lz) + e0 * (l0 - lz);
      top = std::max(top, s.loglik[i]);
    }
    // Only differences matter: keep the numbers small over a long watch.
    for (double& x : s.loglik) x -= top;
  }
  s.pending = {};
  return s;
}

CanaryJudgement canary_judge(const CanaryState& s, double alpha) {
  CanaryJudgement j;
  const ArmCounts& c = s.counted;
  j.log_threshold = std::log(1.0 / alpha);
  j.canary_rate = c.canary_total > 0 ? c.canary_errors / c.canary_total : 0;
  j.baseline_rate = c.baseline_total > 0 ? c.baseline_errors / c.baseline_total : 0;
  if (s.ratios.empty() || s.loglik.size() != s.ratios.size()) return j;

  size_t one = index_of(s, 1.0);
  std::vector<std::pair<size_t, double>> up;
  for (const auto& [r, w] : kTrip) up.emplace_back(index_of(s, r), w);
  j.log_lr = log_mixture(s, one, up);
  j.regression = j.log_lr >= j.log_threshold;

  // Upper bound: walk down from the top while each null is rejected against
  // the ratios below it.
  size_t k_max = index_of(s, s.max_ratio);
  for (size_t k = s.ratios.size(); k-- > 1;) {
    double m = log_mixture(s, k, below(s, k));
    if (k == k_max) j.healthy_log_lr = m;
    if (m < j.log_threshold) break;
    j.upper_bound = s.ratios[k];
  }
  j.below_max = j.upper_bound && *j.upper_bound <= s.max_ratio * (1 + 1e-12);

  // How much more traffic, if the canary fails no more often than the baseline
  // from now on: per component of the healthy mixture, the errors its expected
  // gain per error needs to reach the threshold; the cheapest one decides.
  double n = c.canary_total + c.baseline_total;
  if (j.below_max || c.canary_total <= 0 || c.baseline_total <= 0) return j;
  double pi1 = c.canary_total / n;
  double pooled = std::max(1.0, c.canary_errors + c.baseline_errors) / n;
  auto theta = [&](double r) { return r * pi1 / (r * pi1 + (1 - pi1)); };
  double th0 = theta(s.max_ratio), th = theta(1.0);
  double errors = std::numeric_limits<double>::infinity();
  for (auto [i, w] : below(s, k_max)) {
    double ta = theta(s.ratios[i]);
    double gain = th * std::log(ta / th0) + (1 - th) * std::log((1 - ta) / (1 - th0));
    if (gain <= 0) continue;
    double have = std::log(w) + s.loglik[i] - s.loglik[k_max];
    errors = std::min(errors, std::max(0.0, j.log_threshold - have) / gain);
  }
  if (!std::isfinite(errors)) return j;
  double more = errors / pooled;  // requests over both arms
  j.need_canary = std::ceil(more * pi1);
  j.need_baseline = std::ceil(more * (1 - pi1));
  return j;
}

std::vector<SeriesValue> canary_series(const CanaryState& s) {
  const ArmCounts& c = s.counted;
  auto arm = [](const char* a, const char* k, double v) { return SeriesValue{{{"arm", a}, {"kind", k}}, v}; };
  std::vector<SeriesValue> out = {arm("canary", "errors", c.canary_errors), arm("canary", "total", c.canary_total),
                                  arm("baseline", "errors", c.baseline_errors), arm("baseline", "total", c.baseline_total)};
  for (size_t i = 0; i < s.ratios.size(); ++i)
    out.push_back({{{"canary_loglik", fmt::format("{:.10g}", s.ratios[i])}}, s.loglik[i]});
  out.push_back({{{"canary_pending", "canary/errors"}}, s.pending.canary_errors});
  out.push_back({{{"canary_pending", "canary/total"}}, s.pending.canary_total});
  out.push_back({{{"canary_pending", "baseline/errors"}}, s.pending.baseline_errors});
  out.push_back({{{"canary_pending", "baseline/total"}}, s.pending.baseline_total});
  return out;
}

bool is_canary_state_series(const SeriesValue& v) {
  return v.labels.size() == 1 && (v.labels[0].first == "canary_loglik" || v.labels[0].first == "canary_pending");
}

ArmCounts canary_counts_of(const std::vector<SeriesValue>& series) {
  ArmCounts c;
  for (const auto& v : series) {
    std::string arm, kind;
    for (const auto& [n, val] : v.labels) {
      if (n == "arm") arm = val;
      if (n == "kind") kind = val;
    }
    if (arm == "canary" && kind == "errors") c.canary_errors = v.value;
    if (arm == "canary" && kind == "total") c.canary_total = v.value;
    if (arm == "baseline" && kind == "errors") c.baseline_errors = v.value;
    if (arm == "baseline" && kind == "total") c.baseline_total = v.value;
  }
  return c;
}

std::optional<CanaryState> canary_state_of(const std::vector<SeriesValue>& series, double max_ratio) {
  CanaryState s = canary_start(max_ratio);
  size_t seen = 0, pending = 0;
  for (const auto& v : series) {
    if (!is_canary_state_series(v)) continue;
    const auto& [name, value] = v.labels[0];
    if (name == "canary_pending") {
      double* slot = value == "canary/errors"     ? &s.pending.canary_errors
                     : value == "canary/total"    ? &s.pending.canary_total
                     : value == "baseline/errors" ? &s.pending.baseline_errors
                     : value == "baseline/total"  ? &s.pending.baseline_total
                                                  : nullptr;
      if (!slot) return std::nullopt;
      *slot = v.value;
      ++pending;
      continue;
    }
    double r = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), r);
    if (ec != std::errc{} || seen >= s.ratios.size() || std::abs(r - s.ratios[seen]) > 1e-9 * s.ratios[seen])
      return std::nullopt;
    s.loglik[seen++] = v.value;
  }
  if (seen != s.ratios.size() || pending != 4) return std::nullopt;
  s.counted = canary_counts_of(series);
  return s;
}

}  // namespace dg
