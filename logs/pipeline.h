#pragma once
/// LogPipeline: one source's lines through its header pattern and its miner
/// into its tally — what both drivers and `logs top` run per source. A line's
/// time is the source's (read or journal time); a line of the history read at
/// open takes the header's time when it has one, so a backfilled file places
/// its lines in the baseline where they belong. Not thread-safe.
#include <string>
#include <string_view>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "logs/header.h"
#include "logs/log_source.h"
#include "logs/miner.h"
#include "logs/tally.h"

namespace dg::logs {

class LogPipeline {
 public:
  static Result<LogPipeline> make(const HeaderOptions& header, const MinerOptions& miner, Duration keep);
  /// Mines one line; `now` and `wall` map a header's calendar time onto the
  /// monotonic timeline.
  Mined ingest(const LogLine& line, TimePoint now, TimePoint wall);
  void prune(TimePoint now) { tally_.prune(now); }
  Miner& miner() { return miner_; }
  const Miner& miner() const { return miner_; }
  const LogTally& tally() const { return tally_; }
  const HeaderParser& header() const { return header_; }
  uint64_t lines() const { return lines_; }
  /// The miner's state (JSON text), for the watcher's checkpoint.
  std::string checkpoint() const { return miner_.to_json(); }
  /// Takes a checkpoint's miner state; an Error leaves the miner as it was.
  Result<void> restore(std::string_view state);

 private:
  LogPipeline(HeaderParser h, Miner m, Duration keep, size_t cap) : header_(std::move(h)), miner_(std::move(m)), tally_(keep, cap) {}
  HeaderParser header_;
  Miner miner_;
  LogTally tally_;
  ParsedLine parsed_;
  uint64_t lines_ = 0;
};

}  // namespace dg::logs
