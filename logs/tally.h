#pragma once
/// LogTally: what a source's mined lines looked like, second by second, for
/// as long as the log conditions look back (baseline + the window after a
/// release). Per second: all lines, lines at error or above, and lines per
/// signature; per signature: its template, highest level, first and last
/// time seen and its last three example lines (redacted when taken).
/// Bounded by `keep` (older seconds dropped) and by the miner's signature
/// cap. Not thread-safe: the driver that feeds it judges from it.
#include <cstdint>
#include <algorithm>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "logs/level.h"
#include "logs/miner.h"

namespace dg::logs {

struct SecondBucket {
  int64_t second = 0;  ///< since the epoch, on the monotonic timeline
  uint32_t total = 0, errors = 0;
  std::vector<std::pair<SignatureId, uint32_t>> signatures;
};

struct SignatureInfo {
  std::string text;  ///< the template (as of the last line)
  Level level = Level::Unknown;
  TimePoint first_seen{}, last_seen{};
  TimePoint example_at{};  ///< when the last example was taken (at most one a second)
  std::vector<std::string> examples;  ///< up to 3, newest last, redacted and cut
};

class LogTally {
 public:
  /// `max_signatures`: per second, and in the per-signature table, at most
  /// this many (beyond: a second's extra signatures count as kOther; the
  /// table drops the least recently seen), so a flood of distinct lines
  /// cannot grow the tally past the miner's own bound.
  explicit LogTally(Duration keep, size_t max_signatures = 1000) : keep_(keep), max_(std::max<size_t>(1, max_signatures)) {}
  /// One mined line; `text` is the signature's template when it is new or
  /// just changed (else empty). Lines arriving out of order land in their
  /// own second if it is still kept, else in the oldest kept one.
  void add(TimePoint at, SignatureId id, Level level, std::string_view text, std::string_view raw_line);
  /// Drops what is older than `keep` before `now`.
  void prune(TimePoint now);
  const std::deque<SecondBucket>& seconds() const { return buckets_; }
  const SignatureInfo* info(SignatureId id) const;
  const std::unordered_map<SignatureId, SignatureInfo>& infos() const { return info_; }
  Duration keep() const { return keep_; }

 private:
  Duration keep_;
  size_t max_;
  std::deque<SecondBucket> buckets_;
  std::unordered_map<SignatureId, SignatureInfo> info_;
  std::unordered_map<SignatureId, uint32_t> back_index_;  ///< positions in the newest second
};

}  // namespace dg::logs
