#include "policies/metric_evaluator.h"

#include "policies/canary_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dg {
namespace {

const std::vector<MetricReading> kNone;

const std::vector<MetricReading>& of(const MetricHistory& h, const std::string& id) {
  auto it = h.find(id);
  return it == h.end() ? kNone : it->second;
}

std::optional<double> series_value(const MetricReading& r, const Labels& labels) {
  for (const auto& s : r.series)
    if (s.labels == labels) return s.value;
  return std::nullopt;
}

std::string fmt_num(double v) { return fmt::format("{:.6g}", v); }

}  // namespace

ConditionVerdict evaluate_condition(const MetricCondition& c, const MetricHistory& history, Phase phase) {
  const auto& readings = of(history, c.id);
  ConditionVerdict v{.state = VerdictState::Healthy};
  auto out = [&](VerdictState s, std::string reason) {
    v.state = s;
    v.reason = fmt::format("{} {}: {}", c.log.empty() ? "metric" : "logs", c.id, reason);
    return v;
  };

  // The source's own failures say nothing about the service: their own limit.
  int errors = 0;
  for (auto it = readings.rbegin(); it != readings.rend() && it->status == ReadingStatus::Error; ++it) ++errors;
  if (errors > 0 && errors >= c.max_source_errors) {
    v.evidence.assign(readings.end() - errors, readings.end());
    v.since = v.evidence.front().at;
    return out(VerdictState::Inconclusive, fmt::format("source {} failed {} time(s) in a row, cannot judge: {}", c.source,
                                                       errors, readings.back().detail));
  }
  // At the end of a bake, a source that is failing now cannot vouch for the
  // service with an older good reading.
  if (phase == Phase::Final && !readings.empty() && readings.back().status == ReadingStatus::Error) {
    v.evidence = {readings.back()};
    v.since = readings.back().at;
    return out(VerdictState::Inconclusive, fmt::format("source {} failing at the end of the bake, cannot judge: {}",
                                                       c.source, readings.back().detail));
  }
  std::vector<const MetricReading*> usable;
  for (const auto& r : readings)
    if (r.status != ReadingStatus::Error) usable.push_back(&r);
  if (usable.empty()) {
    if (phase == Phase::Final)
      return out(VerdictState::Inconclusive,
                 readings.empty() ? "no reading taken" : "no usable reading: " + readings.back().detail);
    return out(VerdictState::Healthy, "waiting for a first reading");
  }
  const MetricReading& newest = *usable.back();
  if (newest.status == ReadingStatus::NoData) {
    v.evidence = {newest};
    v.since = newest.at;
    std::string why = fmt::format("no data ({})", newest.detail);
    switch (c.on_no_data) {
      case OnNoData::Inconclusive: return out(VerdictState::Inconclusive, why + "; on_no_data = inconclusive");
      case OnNoData::Trip: return out(VerdictState::Tripped, why + "; on_no_data = trip");
      case OnNoData::Ignore: return out(VerdictState::Healthy, why + "; ignored (on_no_data = ignore)");
    }
  }

  if (!c.log.empty()) {
    // A log condition: the source judged it (logs/conditions.h, a sequential
    // test that is valid at every look); its reading is 1 when it trips and
    // carries the evidence in its detail.
    v.evidence = {newest};
    v.since = newest.at;
    bool tripped = !newest.series.empty() && newest.series.front().value >= 0.5;
    return out(tripped ? VerdictState::Tripped : VerdictState::Healthy, newest.detail);
  }

  if (c.kind == MetricCondition::Kind::Canary) {
    // The driver folds the test look by look and hands the state over in the
    // reading; counts alone (no fold) are judged as one interval.
    std::optional<CanaryState> state = canary_state_of(newest.series, c.max_ratio);
    if (!state) state = canary_fold(canary_start(c.max_ratio), canary_counts_of(newest.series));
    const ArmCounts& n = state->counted;
    CanaryJudgement t = canary_judge(*state, c.alpha);
    v.stats = {{"canary_errors", n.canary_errors},     {"canary_requests", n.canary_total},
               {"baseline_errors", n.baseline_errors}, {"baseline_requests", n.baseline_total},
               {"log_likelihood_ratio", t.log_lr},     {"log_threshold", t.log_threshold},
               {"alpha", c.alpha},                     {"max_ratio", c.max_ratio},
               {"healthy_log_likelihood_ratio", t.healthy_log_lr}};
    if (t.upper_bound) v.stats["ratio_upper_bound"] = *t.upper_bound;
    MetricReading shown = newest;
    std::erase_if(shown.series, is_canary_state_series);
    v.evidence = {shown};
    v.since = newest.at;
    std::string counts = fmt::format("canary {}/{} errors ({:.3f}%), baseline {}/{} ({:.3f}%)", fmt_num(n.canary_errors),
                                     fmt_num(n.canary_total), 100 * t.canary_rate, fmt_num(n.baseline_errors),
                                     fmt_num(n.baseline_total), 100 * t.baseline_rate);
    // A trip needs no minimum size: overwhelming evidence is evidence at any size.
    if (t.regression)
      return out(VerdictState::Tripped, fmt::format("{}; sequential test: log LR {:.2f} >= {:.2f} (alpha {})", counts,
                                                    t.log_lr, t.log_threshold, c.alpha));
    double short_canary = std::max(0.0, c.min_requests - n.canary_total);
    double short_baseline = std::max(0.0, c.min_requests - n.baseline_total);
    std::string bound = t.upper_bound ? fmt::format("the canary fails less than {}x as often as the baseline", fmt_num(*t.upper_bound))
                                      : "no upper bound on the error ratio yet";
    if (t.below_max && short_canary <= 0 && short_baseline <= 0)
      return out(VerdictState::Healthy,
                 fmt::format("{}; no regression: {} (confidence {}, max_ratio {}; log LR {:.2f} < {:.2f})", counts, bound,
                             fmt_num(1 - c.alpha), fmt_num(c.max_ratio), t.log_lr, t.log_threshold));
    double need_c = std::max(short_canary, t.below_max ? 0.0 : t.need_canary);
    double need_b = std::max(short_baseline, t.below_max ? 0.0 : t.need_baseline);
    std::string need;
    if (n.canary_total <= 0 || n.baseline_total <= 0)
      need = fmt::format("need traffic on both arms (at least {} requests each)", fmt_num(c.min_requests));
    else if (!t.below_max && t.need_canary <= 0 && t.need_baseline <= 0)
      need = "cannot estimate the traffic it needs";
    else if (std::max(need_c, need_b) <= 1.25 * std::min(need_c, need_b))
      need = fmt::format("need about {:.0f} more requests per arm", std::max(need_c, need_b));
    else
      need = fmt::format("need about {:.0f} more canary and {:.0f} more baseline requests", need_c, need_b);
    v.stats["need_canary_requests"] = need_c;
    v.stats["need_baseline_requests"] = need_b;
    std::string why = t.below_max ? fmt::format("{} (below max_ratio {})", bound, fmt_num(c.max_ratio))
                                  : fmt::format("{}, not yet below max_ratio {}", bound, fmt_num(c.max_ratio));
    return out(VerdictState::Inconclusive,
               fmt::format("{}; {}; {} ({}min_requests {})", counts, why, need,
                           t.below_max ? "" : "if the canary fails no more often than the baseline from now on; ",
                           fmt_num(c.min_requests)));
  }

  if (c.kind == MetricCondition::Kind::Compare) {
    // Canary versus baseline value (e.g. p99 latency): each reading carries
    // both arms; the canary must exceed the tolerance for hold_for.
    auto arm = [](const MetricReading& r, const char* name) -> std::optional<double> {
      for (const auto& s : r.series)
        for (const auto& [k, val] : s.labels)
          if (k == "arm" && val == name) return s.value;
      return std::nullopt;
    };
    auto limit_of = [&](double base) { return c.increase_relative ? base * (1 + c.max_increase) : base + c.max_increase; };
    auto breach = [&](const MetricReading& r) {
      auto cv = arm(r, "canary"), bv = arm(r, "baseline");
      return r.status == ReadingStatus::Ok && cv && bv && *cv > limit_of(*bv) && (!c.above || *cv > *c.above);
    };
    double cv = arm(newest, "canary").value_or(NAN), bv = arm(newest, "baseline").value_or(NAN);
    v.stats = {{"canary", cv}, {"baseline", bv}, {"limit", limit_of(bv)}};
    if (!breach(newest))
      return out(VerdictState::Healthy, fmt::format("canary {} vs baseline {} (limit {})", fmt_num(cv), fmt_num(bv),
                                                    fmt_num(limit_of(bv))));
    TimePoint since = newest.at;
    std::vector<MetricReading> streak;
    for (auto it = usable.rbegin(); it != usable.rend() && breach(**it); ++it) {
      since = (*it)->at;
      streak.insert(streak.begin(), **it);
    }
    auto held = std::chrono::duration_cast<Duration>(newest.at - since);
    v.stats["held_ms"] = static_cast<double>(held.count());
    if (held < c.hold_for)
      return out(VerdictState::Healthy, fmt::format("canary {} above the limit {} for {} ms of {} ms", fmt_num(cv),
                                                    fmt_num(limit_of(bv)), held.count(), c.hold_for.count()));
    v.evidence = std::move(streak);
    v.since = since;
    return out(VerdictState::Tripped,
               fmt::format("canary {} > baseline {} + {}{} (limit {}) for {} ms", fmt_num(cv), fmt_num(bv),
                           c.increase_relative ? fmt_num(c.max_increase * 100) : fmt_num(c.max_increase),
                           c.increase_relative ? "%" : "", fmt_num(limit_of(bv)), held.count()));
  }

  // Threshold and baseline: a per-series limit that must be breached for hold_for.
  const MetricReading* base = nullptr;
  if (c.kind == MetricCondition::Kind::Baseline) {
    const auto& b = of(history, c.id + "#baseline");
    if (b.empty() || b.back().status != ReadingStatus::Ok)
      return out(VerdictState::Inconclusive,
                 b.empty() ? "no baseline reading from before the release"
                           : fmt::format("no baseline value from before the release ({})", b.back().detail));
    base = &b.back();
  }
  auto limit_for = [&](const Labels& labels) -> std::optional<double> {
    if (!base) return c.above ? c.above : c.below;
    auto b = series_value(*base, labels);
    if (!b) return std::nullopt;
    // A relative rise over zero is meaningless: the floor `above` decides.
    if (c.increase_relative && *b <= 0) return c.above;
    return c.increase_relative ? *b * (1 + c.max_increase) : *b + c.max_increase;
  };
  auto breaches = [&](double value, double limit) {
    if (base) return value > limit && (!c.above || value > *c.above);  // `above` is the floor for a baseline
    return c.above ? value > limit : value < limit;
  };
  std::vector<std::string> fine, unjudged;
  for (const auto& s : newest.series) {
    auto limit = limit_for(s.labels);
    std::string key = labels_key(s.labels);
    if (!limit) {
      unjudged.push_back(fmt::format("{} = {} has no usable baseline value", key, fmt_num(s.value)));
      continue;
    }
    if (!breaches(s.value, *limit)) {
      fine.push_back(fmt::format("{} = {} (limit {})", key, fmt_num(s.value), fmt_num(*limit)));
      continue;
    }
    // Walk back while the same series kept breaching.
    TimePoint since = newest.at;
    std::vector<MetricReading> streak;
    for (auto it = usable.rbegin(); it != usable.rend(); ++it) {
      const MetricReading& r = **it;
      if (r.status != ReadingStatus::Ok) break;
      auto val = series_value(r, s.labels);
      auto lim = limit_for(s.labels);
      if (!val || !lim || !breaches(*val, *lim)) break;
      since = r.at;
      streak.insert(streak.begin(), r);
    }
    auto held = std::chrono::duration_cast<Duration>(newest.at - since);
    v.stats = {{"value", s.value}, {"limit", *limit}, {"held_ms", static_cast<double>(held.count())}};
    if (base) {
      if (auto b = series_value(*base, s.labels)) v.stats["baseline"] = *b;
    }
    if (held >= c.hold_for) {
      v.evidence = std::move(streak);
      if (base) v.evidence.insert(v.evidence.begin(), *base);
      v.since = since;
      std::string what = base ? fmt::format("above its pre-release value {} by more than {}{}", fmt_num(v.stats["baseline"]),
                                            c.increase_relative ? fmt_num(c.max_increase * 100) : fmt_num(c.max_increase),
                                            c.increase_relative ? "%" : "")
                              : fmt::format("{} {}", c.above ? "above" : "below", fmt_num(*limit));
      return out(VerdictState::Tripped, fmt::format("{}{} = {} {} for {} ms (hold {} ms)", newest.query, key,
                                                    fmt_num(s.value), what, held.count(), c.hold_for.count()));
    }
    fine.push_back(fmt::format("{} = {} beyond {} for {} ms of {} ms", key, fmt_num(s.value), fmt_num(*limit),
                               held.count(), c.hold_for.count()));
  }
  v.evidence = {newest};
  v.since = newest.at;
  auto list = [](const std::vector<std::string>& items) {
    std::string summary;
    for (size_t i = 0; i < items.size() && i < 5; ++i) summary += (i ? "; " : "") + items[i];
    if (items.size() > 5) summary += fmt::format("; and {} more series", items.size() - 5);
    return summary;
  };
  // A series the baseline cannot judge is missing data, never health.
  if (!unjudged.empty())
    return out(VerdictState::Inconclusive, "cannot compare with the pre-release baseline: " + list(unjudged) +
                                               (c.increase_relative && c.above ? "" : " (set `above` as a floor)"));
  return out(VerdictState::Healthy, list(fine));
}

RecoveryState condition_recovery(const MetricCondition& c, const MetricHistory& fresh, int passes, std::string& reason) {
  ConditionVerdict now = evaluate_condition(c, fresh, Phase::Ongoing);
  reason = now.reason;
  if (now.state == VerdictState::Tripped) return RecoveryState::StillFailing;
  if (c.kind == MetricCondition::Kind::Canary) return now.state == VerdictState::Healthy ? RecoveryState::Recovered : RecoveryState::Pending;
  const auto& readings = of(fresh, c.id);
  int good = 0;
  for (auto it = readings.rbegin(); it != readings.rend(); ++it) {
    if (it->status != ReadingStatus::Ok) break;
    // Each reading alone, against the bare limit: a breach is never "good",
    // however briefly it has lasted.
    MetricCondition instant = c;
    instant.hold_for = Duration{0};
    MetricHistory one{{c.id, {*it}}};
    if (auto b = fresh.find(c.id + "#baseline"); b != fresh.end()) one[b->first] = b->second;
    if (evaluate_condition(instant, one, Phase::Ongoing).state != VerdictState::Healthy) break;
    ++good;
  }
  reason += fmt::format(" ({} of {} good readings after the action)", good, passes);
  return good >= passes ? RecoveryState::Recovered : RecoveryState::Pending;
}

}  // namespace dg
