#pragma once
/// `deployguard logs mine` and `logs top`: the miner from the outside. The
/// argument parsing is main's; these do the work and return the exit code.
#include <iosfwd>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "logs/log_source.h"

namespace dg::logs {

struct MineArgs {
  std::vector<std::string> files;  ///< "-" is stdin
  HeaderOptions header;
  MinerOptions miner;
  bool json = false;
};

/// A `--header` value: a built-in format's name, else a regex.
HeaderOptions header_from_flag(const std::string& value);

/// For every input line, its signature id and template: TSV (`id<TAB>template`)
/// or JSON lines ({"line","id","template","level"}). 0, or 2 on a bad file or setting.
int run_logs_mine(const MineArgs& args, std::ostream& out, std::ostream& err);

struct TopArgs {
  LogSourceSpec source;
  Duration since{600'000};  ///< the recent window; the baseline is the one before it
  size_t limit = 30;
  Duration read_for{1500};  ///< how long to wait for the source to go quiet
};

/// The source's signatures over the last `since`, most lines first, each with
/// its count in the `since` before and the change: the dashboard of messages
/// ordered by frequency, in a terminal.
int run_logs_top(const TopArgs& args, const Clock& clock, std::ostream& out, std::ostream& err);

}  // namespace dg::logs
