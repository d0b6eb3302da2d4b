#pragma once
/// The log conditions' pure evaluators: a tally (tally.h) × the release's
/// windows × now → a judgement with evidence. No I/O, no state; the driver
/// calls them on each look and a fake clock is all a test needs.
///
/// Windows: the baseline is [release - baseline, release); the judged window
/// is [release, release + window) (window defaults to the baseline's length).
///
///  - new_signature: a signature not seen in the baseline, at or above
///    `level` (or whose template matches `pattern`), seen at least
///    `min_count` times since the release.
///  - surge: per signature, its share of all lines after the release against
///    its share in the baseline, by the canary's anytime-valid sequential
///    test (policies/canary_test.h) with the two time windows as the arms:
///    each completed `step` after the release is one interval, paired with
///    the matching slice of the baseline (time-aligned, scaled when the
///    windows differ), so every interval holds both arms and the slices are
///    disjoint — the product of per-interval likelihood ratios stays a
///    martingale and Ville's bound holds at every look. `min_ratio` is the
///    null: the after arm's volume is scaled by it, so "ratio 1" in the test
///    means "min_ratio times the baseline share". Family-wise: Bonferroni
///    over the signatures present in the baseline (at most
///    `max_signatures`, the most frequent), each tested at alpha/m, so the
///    whole condition's false-trip rate stays at alpha. Bursts: a
///    signature's count in one second is capped at 4 + ceil(10 λ) (λ its
///    baseline rate per second: room for a tenfold rise), so one burst of
///    identical lines is a few events of evidence, not hundreds. A signature that vanished is
///    reported as info, never a trip.
///  - error_share: the same test on the lines at or above `level` as one
///    "signature" (cap from the baseline error rate), alpha undivided.
#include <optional>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/regex.h"
#include "logs/level.h"
#include "logs/miner.h"
#include "logs/tally.h"

namespace dg::logs {

struct LogWindows {
  TimePoint release{};
  Duration baseline{600'000};
  Duration window{0};  ///< 0: the baseline's length
  Duration step{5000};
  Duration judged() const { return window.count() > 0 ? window : baseline; }
};

struct NewSignatureCondition {
  Level level = Level::Error;
  std::optional<Regex> pattern;  ///< instead of (or besides) the level: a template matching it
  int min_count = 3;
};

struct SurgeCondition {
  double alpha = 0.01;
  double min_ratio = 1.5;
  Level level = Level::Unknown;  ///< only signatures at or above it (Unknown: all)
  size_t max_signatures = 200;
};

struct ErrorShareCondition {
  double alpha = 0.01;
  double min_ratio = 1.5;
  Level level = Level::Error;
};

struct LogEvidence {
  std::string kind;  ///< new_signature | surge | vanished | error_share | rise (the strongest short of a trip)
  SignatureId id = kOther;
  std::string template_text;
  Level level = Level::Unknown;
  double before = 0, after = 0;  ///< lines (raw counts)
  double lines_before = 0, lines_after = 0;  ///< all lines in each window
  Duration before_window{0}, after_window{0};
  std::optional<TimePoint> first_seen;
  std::vector<std::string> examples;  ///< redacted
  double ratio = 0;       ///< after share / before share (inf when before is 0)
  double statistic = 0;   ///< log e-value of the sequential test (new_signature: the count)
  double threshold = 0;   ///< log(1/alpha each) (new_signature: min_count)
  std::string describe() const;
};

struct LogJudgement {
  enum class State { Healthy, Tripped, NoData } state = State::NoData;
  std::string reason;
  std::vector<LogEvidence> findings;  ///< what trips
  std::vector<LogEvidence> info;      ///< vanished signatures
  double lines_before = 0, lines_after = 0;
};

LogJudgement judge_new_signature(const NewSignatureCondition& c, const LogTally& t, const LogWindows& w, TimePoint now);
LogJudgement judge_surge(const SurgeCondition& c, const LogTally& t, const LogWindows& w, TimePoint now);
LogJudgement judge_error_share(const ErrorShareCondition& c, const LogTally& t, const LogWindows& w, TimePoint now);

}  // namespace dg::logs
