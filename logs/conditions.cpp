#include "logs/conditions.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "agent/core/text.h"
#include "policies/canary_test.h"

namespace dg::logs {
namespace {

int64_t sec(TimePoint t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }

struct Span {
  int64_t from, to;  ///< seconds, [from, to)
};

// The buckets of a span.
template <class F>
void each_second(const LogTally& t, Span s, F f) {
  const auto& b = t.seconds();
  auto it = std::lower_bound(b.begin(), b.end(), s.from, [](const SecondBucket& x, int64_t v) { return x.second < v; });
  for (; it != b.end() && it->second < s.to; ++it) f(*it);
}

struct Windows {
  Span before, after;        ///< after: up to now (or its end)
  int64_t step = 5;          ///< seconds per interval after the release
  double scale = 1;          ///< baseline seconds per judged second
  int64_t completed = 0;     ///< whole intervals after the release so far
  Duration before_len{0}, after_len{0};
};

Windows windows_of(const LogWindows& w, TimePoint now) {
  Windows x;
  int64_t r = sec(w.release);
  int64_t base = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(w.baseline).count());
  int64_t judged = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(w.judged()).count());
  x.step = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(w.step).count());
  x.before = {r - base, r};
  // Counts include the second in progress; the test only whole steps.
  int64_t end = std::min(sec(now) + 1, r + judged);
  x.after = {r, std::max(r, end)};
  x.scale = static_cast<double>(base) / static_cast<double>(judged);
  x.completed = std::max<int64_t>(0, std::min(sec(now), r + judged) - r) / x.step;
  x.before_len = std::chrono::seconds(base);
  x.after_len = std::chrono::seconds(x.after.to - r);
  return x;
}

// The i-th slice of the baseline that pairs with the i-th interval after.
Span baseline_slice(const Windows& w, int64_t i) {
  double a = static_cast<double>(w.before.from) + static_cast<double>(i * w.step) * w.scale;
  double b = static_cast<double>(w.before.from) + static_cast<double>((i + 1) * w.step) * w.scale;
  return {static_cast<int64_t>(std::floor(a)), std::min(w.before.to, static_cast<int64_t>(std::floor(b)))};
}

// A second's contribution of one signature: room for a tenfold rise of its
// baseline rate, not for a burst of hundreds of identical lines.
double cap_for(double baseline_count, double baseline_seconds) {
  double lambda = baseline_seconds > 0 ? baseline_count / baseline_seconds : 0;
  return 4 + std::ceil(10 * lambda);
}

// Counts per interval of one "signature" (a predicate over a bucket).
struct Series {
  std::vector<double> after, after_total, before, before_total;  ///< counts capped per second; totals
  std::vector<double> after_raw, before_raw;                     ///< counts as they were
};

LogEvidence evidence_of(const LogTally& t, SignatureId id, const Windows& w, double before, double after, double lb, double la) {
  LogEvidence e;
  e.id = id;
  e.before = before;
  e.after = after;
  e.lines_before = lb;
  e.lines_after = la;
  e.before_window = w.before_len;
  e.after_window = w.after_len;
  if (const auto* i = t.info(id)) {
    e.template_text = i->text;
    e.level = i->level;
    e.first_seen = i->first_seen;
    e.examples = i->examples;
  }
  double sb = lb > 0 ? before / lb : 0, sa = la > 0 ? after / la : 0;
  e.ratio = sb > 0 ? sa / sb : std::numeric_limits<double>::infinity();
  return e;
}

// The sequential test over the intervals of a series. The exposure of each
// arm is all its lines: a line is the signature's with some probability
// (the canary's errors among requests). Not the other lines' volume: a
// signature's count does not follow the others' (a dominant signature would
// be judged against a few noisy lines, and every signature would "rise"
// when another vanished).
CanaryJudgement test(const Series& s, double min_ratio, double alpha) {
  CanaryState st = canary_start(3);
  for (size_t i = 0; i < s.after.size(); ++i) {
    ArmCounts inc{s.after[i], s.after_total[i] * min_ratio, s.before[i], s.before_total[i]};
    st = canary_fold(std::move(st), inc);
  }
  return canary_judge(st, alpha);
}

}  // namespace

std::string LogEvidence::describe() const {
  auto mins = [](Duration d) {
    double s = std::chrono::duration<double>(d).count();
    return s < 120 ? fmt::format("{:.0f} s", s) : fmt::format("{:.0f} min", s / 60);
  };
  std::string head = fmt::format("{} [{}] \"{}\"", kind, id_text(id), template_text);
  if (kind == "new_signature")
    return fmt::format("{}: {} lines since the release, none in the {} before", head, after, mins(before_window));
  if (kind == "vanished")
    return fmt::format("{}: {} lines in the {} before, none in the {} after", head, before, mins(before_window), mins(after_window));
  return fmt::format("{}: {} of {} lines in the {} before, {} of {} in the {} after ({:.1f}x; log e-value {:.1f} {} {:.1f})",
                     head, before, lines_before, mins(before_window), after, lines_after, mins(after_window), ratio,
                     statistic, statistic >= threshold ? ">=" : "<", threshold);
}

LogJudgement judge_new_signature(const NewSignatureCondition& c, const LogTally& t, const LogWindows& lw, TimePoint now) {
  LogJudgement j;
  Windows w = windows_of(lw, now);
  std::unordered_map<SignatureId, double> before, after;
  each_second(t, w.before, [&](const SecondBucket& b) {
    j.lines_before += b.total;
    for (auto [id, n] : b.signatures) before[id] += n;
  });
  each_second(t, w.after, [&](const SecondBucket& b) {
    j.lines_after += b.total;
    for (auto [id, n] : b.signatures) after[id] += n;
  });
  for (const auto& [id, n] : after) {
    if (before.contains(id) || id == kOther || n < c.min_count) continue;
    const SignatureInfo* i = t.info(id);
    if (!i || i->first_seen < lw.release) continue;  // seen before, if outside the window
    bool by_level = i->level >= c.level && c.level != Level::Unknown;
    bool by_pattern = c.pattern && c.pattern->search(i->text).value_or(false);
    if (!by_level && !by_pattern) continue;
    LogEvidence e = evidence_of(t, id, w, 0, n, j.lines_before, j.lines_after);
    e.kind = "new_signature";
    e.statistic = n;
    e.threshold = c.min_count;
    j.findings.push_back(std::move(e));
  }
  std::sort(j.findings.begin(), j.findings.end(), [](const auto& a, const auto& b) { return a.after > b.after; });
  if (!j.findings.empty()) {
    j.state = LogJudgement::State::Tripped;
    j.reason = fmt::format("{} new signature(s) since the release: {}", j.findings.size(), j.findings.front().describe());
  } else if (j.lines_after == 0) {
    j.state = LogJudgement::State::NoData;
    j.reason = "no log lines since the release";
  } else {
    j.state = LogJudgement::State::Healthy;
    j.reason = fmt::format("no new signature in {} lines since the release", j.lines_after);
  }
  return j;
}

LogJudgement judge_surge(const SurgeCondition& c, const LogTally& t, const LogWindows& lw, TimePoint now) {
  LogJudgement j;
  Windows w = windows_of(lw, now);
  double base_seconds = static_cast<double>(w.before.to - w.before.from);
  std::unordered_map<SignatureId, double> before, after;
  each_second(t, w.before, [&](const SecondBucket& b) {
    j.lines_before += b.total;
    for (auto [id, n] : b.signatures) before[id] += n;
  });
  each_second(t, w.after, [&](const SecondBucket& b) {
    j.lines_after += b.total;
    for (auto [id, n] : b.signatures) after[id] += n;
  });
  if (j.lines_before == 0) {
    j.reason = "no log lines in the baseline window";
    return j;
  }
  // The tested family: signatures of the baseline, most frequent first.
  std::vector<std::pair<SignatureId, double>> family;
  for (const auto& [id, n] : before) {
    if (id == kOther) continue;
    const SignatureInfo* i = t.info(id);
    if (c.level != Level::Unknown && (!i || i->level < c.level)) continue;
    family.emplace_back(id, n);
  }
  std::sort(family.begin(), family.end(), [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  if (family.size() > c.max_signatures) family.resize(c.max_signatures);
  double alpha_each = c.alpha / static_cast<double>(std::max<size_t>(1, family.size()));

  // Per interval: totals, and each tested signature's capped counts.
  size_t k = static_cast<size_t>(w.completed);
  std::unordered_map<SignatureId, size_t> index;
  std::vector<double> caps;
  for (const auto& [id, n] : family) {
    index.emplace(id, caps.size());
    caps.push_back(cap_for(n, base_seconds));
  }
  std::vector<Series> series(family.size());
  for (auto& s : series) s.after.assign(k, 0), s.before.assign(k, 0), s.after_raw.assign(k, 0), s.before_raw.assign(k, 0);
  std::vector<double> after_total(k, 0), before_total(k, 0);
  int64_t r = w.after.from;
  for (size_t i = 0; i < k; ++i) {
    Span a{r + static_cast<int64_t>(i) * w.step, r + static_cast<int64_t>(i + 1) * w.step};
    each_second(t, a, [&](const SecondBucket& b) {
      after_total[i] += b.total;
      for (auto [id, n] : b.signatures)
        if (auto it = index.find(id); it != index.end()) {
          series[it->second].after[i] += std::min<double>(n, caps[it->second]);
          series[it->second].after_raw[i] += n;
        }
    });
    each_second(t, baseline_slice(w, static_cast<int64_t>(i)), [&](const SecondBucket& b) {
      before_total[i] += b.total;
      for (auto [id, n] : b.signatures)
        if (auto it = index.find(id); it != index.end()) {
          series[it->second].before[i] += std::min<double>(n, caps[it->second]);
          series[it->second].before_raw[i] += n;
        }
    });
  }
  std::optional<LogEvidence> leader;
  for (size_t f = 0; f < family.size(); ++f) {
    auto [id, n_before] = family[f];
    double n_after = after.contains(id) ? after[id] : 0;
    Series& s = series[f];
    s.after_total = after_total;
    s.before_total = before_total;
    CanaryJudgement cj = test(s, c.min_ratio, alpha_each);
    LogEvidence e = evidence_of(t, id, w, n_before, n_after, j.lines_before, j.lines_after);
    e.statistic = cj.log_lr;
    e.threshold = std::log(1 / alpha_each);
    if (cj.regression) {
      e.kind = "surge";
      j.findings.push_back(std::move(e));
    } else if (n_after > 0 && e.ratio > 1 && (!leader || e.statistic > leader->statistic)) {
      e.kind = "rise";  // the strongest evidence short of a trip, for the record
      leader = std::move(e);
    } else if (n_after == 0 && j.lines_after > 0 && n_before / j.lines_before * j.lines_after >= 10) {
      e.kind = "vanished";  // expected ten or more, saw none: worth a look, never a trip
      j.info.push_back(std::move(e));
    }
  }
  std::sort(j.findings.begin(), j.findings.end(), [](const auto& a, const auto& b) { return a.statistic > b.statistic; });
  if (!j.findings.empty()) {
    j.state = LogJudgement::State::Tripped;
    j.reason = fmt::format("{} signature(s) surged: {}", j.findings.size(), j.findings.front().describe());
  } else if (j.lines_after == 0) {
    j.reason = "no log lines since the release";
  } else {
    j.state = LogJudgement::State::Healthy;
    j.reason = fmt::format("no surge among {} signatures ({} lines before, {} after)", family.size(), j.lines_before, j.lines_after);
    if (leader) j.reason += "; largest rise: " + leader->describe();
  }
  return j;
}

LogJudgement judge_error_share(const ErrorShareCondition& c, const LogTally& t, const LogWindows& lw, TimePoint now) {
  LogJudgement j;
  Windows w = windows_of(lw, now);
  double base_seconds = static_cast<double>(w.before.to - w.before.from);
  // Lines at or above the level, per second: the tally keeps errors; other
  // levels are summed from the signatures' levels.
  auto at_level = [&](const SecondBucket& b) -> double {
    if (c.level == Level::Error) return b.errors;
    double n = 0;
    for (auto [id, k] : b.signatures)
      if (const auto* i = t.info(id); i && i->level >= c.level) n += k;
    return n;
  };
  double before = 0, after = 0;
  each_second(t, w.before, [&](const SecondBucket& b) { j.lines_before += b.total, before += at_level(b); });
  each_second(t, w.after, [&](const SecondBucket& b) { j.lines_after += b.total, after += at_level(b); });
  if (j.lines_before == 0) {
    j.reason = "no log lines in the baseline window";
    return j;
  }
  double cap = cap_for(before, base_seconds);
  size_t k = static_cast<size_t>(w.completed);
  Series s;
  for (auto* v : {&s.after, &s.before, &s.after_total, &s.before_total, &s.after_raw, &s.before_raw}) v->assign(k, 0);
  for (size_t i = 0; i < k; ++i) {
    Span a{w.after.from + static_cast<int64_t>(i) * w.step, w.after.from + static_cast<int64_t>(i + 1) * w.step};
    each_second(t, a, [&](const SecondBucket& b) {
      double e = at_level(b);
      s.after_total[i] += b.total, s.after[i] += std::min(e, cap), s.after_raw[i] += e;
    });
    each_second(t, baseline_slice(w, static_cast<int64_t>(i)), [&](const SecondBucket& b) {
      double e = at_level(b);
      s.before_total[i] += b.total, s.before[i] += std::min(e, cap), s.before_raw[i] += e;
    });
  }
  CanaryJudgement cj = test(s, c.min_ratio, c.alpha);
  LogEvidence e;
  e.kind = "error_share";
  e.template_text = fmt::format("lines at {} or above", level_name(c.level));
  e.level = c.level;
  e.before = before, e.after = after, e.lines_before = j.lines_before, e.lines_after = j.lines_after;
  e.before_window = w.before_len, e.after_window = w.after_len;
  double sb = before / j.lines_before, sa = j.lines_after > 0 ? after / j.lines_after : 0;
  e.ratio = sb > 0 ? sa / sb : std::numeric_limits<double>::infinity();
  e.statistic = cj.log_lr;
  e.threshold = std::log(1 / c.alpha);
  if (cj.regression) {
    j.state = LogJudgement::State::Tripped;
    j.reason = "error share rose: " + e.describe();
    j.findings.push_back(std::move(e));
  } else if (j.lines_after == 0) {
    j.reason = "no log lines since the release";
  } else {
    j.state = LogJudgement::State::Healthy;
    j.reason = fmt::format("error share {:.3g} before, {:.3g} after", sb, sa);
  }
  return j;
}

}  // namespace dg::logs
