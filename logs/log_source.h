#pragma once
/// LogSource: where log lines come from — a file (or a glob) tailed across
/// rotations, the systemd journal, or a long-running command's output. Each
/// yields timestamped lines through a poll-style API that both drivers use:
/// verify calls poll() from its collecting thread between looks, watch from a
/// timer on its loop. Nothing here starts a thread; poll() never blocks.
///
/// Lines are bounded (`max_line_bytes`, the rest of a longer line dropped and
/// the cut marked) and always valid UTF-8: an invalid byte or a control
/// character becomes U+FFFD, visible but harmless in a terminal or a record.
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/process.h"
#include "agent/core/registry.h"
#include "logs/header.h"
#include "logs/level.h"
#include "logs/miner.h"

namespace dg::logs {

struct LogLine {
  TimePoint at;                ///< on the clock's monotonic timeline: when written (journal) or read (file, command)
  std::string text;            ///< without its newline
  std::optional<Level> level;  ///< when the source knows it (journald's PRIORITY)
  bool backlog = false;        ///< written before the source was opened (baseline history)
  bool cut = false;            ///< longer than max_line_bytes
};

struct FileSourceSpec {
  std::vector<std::string> paths;      ///< files or glob patterns
  size_t backfill_bytes = 8 << 20;     ///< at open, how much of each file's end is read as history
};

struct JournaldSourceSpec {
  std::string directory;               ///< journal files in this directory (sd_journal_open_directory); empty: the local journal
  std::vector<std::string> units;      ///< _SYSTEMD_UNIT values (any of them)
  std::vector<std::string> matches;    ///< FIELD=value (all of them; the same field twice: either)
};

struct CommandSourceSpec {
  CommandSpec command;                 ///< argv, environment; timeout ignored (it runs until stopped)
  Duration restart_min{1000}, restart_max{60'000};  ///< backoff after an exit, doubling
};

struct LogSourceSpec {
  std::string name;
  std::string type;  ///< "file" | "journald" | "command"
  std::variant<FileSourceSpec, JournaldSourceSpec, CommandSourceSpec> kind;
  size_t max_line_bytes = 8192;
  HeaderOptions header;
  MinerOptions miner;
};

class LogSource {
 public:
  virtual ~LogSource() = default;
  /// Positions the source so that what poll() yields first covers `since`
  /// (the start of the baseline window): a file's last backfill_bytes, the
  /// journal from that time, a command started. Bounded; may block briefly.
  virtual Result<void> open(TimePoint since) = 0;
  /// Appends the lines available now, at most `max`; never blocks. A
  /// transient trouble (a file missing between rotations, a command that
  /// exited) is retried by the source itself and shown in status(); an Error
  /// only when the source cannot go on.
  virtual Result<size_t> poll(std::vector<LogLine>& out, size_t max) = 0;
  /// One line for diagnostics: what it follows and how it is doing.
  virtual std::string status() const = 0;
};

struct LogSourceRegistry {
  using Factory = std::function<Result<std::unique_ptr<LogSource>>(const LogSourceSpec&, const Clock&)>;
  void add(std::string type, Factory f);
  Result<std::unique_ptr<LogSource>> make(const LogSourceSpec& spec, const Clock& clock) const;
  std::vector<std::string> types() const;

 private:
  std::vector<std::pair<std::string, Factory>> factories_;
};

void register_builtin_log_sources(LogSourceRegistry& registry);

}  // namespace dg::logs
