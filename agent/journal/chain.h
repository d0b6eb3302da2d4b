#pragma once
/// The hash chain over a journal's files (internal to agent/journal): the
/// record line format, the one verifying walk shared by open() and
/// `journal verify`, the backward search for the last checkpoint, and the
/// unverified stream readers replay from.
#include <sys/types.h>

#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agent/journal/journal.h"
#include "agent/journal/segments.h"

namespace dg::chain {

/// A line is `<body without its closing brace>,"hash":"<64 hex>"}`; the hash
/// covers the body exactly as written.
struct Split {
  std::string body;
  std::string hash;
};
std::optional<Split> split_line(std::string_view line);
/// The line (newline included) for a serialized record `body`; sets `hash`.
std::string seal_line(std::string_view body, std::string& hash);

/// Where a walk starts: the record at `offset` of file `file` must have seq
/// `records + 1` and link to `prev`.
struct Start {
  size_t file = 0;
  off_t offset = 0;
  long long records = 0;
  std::string prev = kJournalGenesis;
};

struct Found {
  Start start;  ///< at the checkpoint record, trusting its own seq and prev
  JournalCheckpoint checkpoint;
};
/// The journal's last checkpoint record, searched backward from the end of
/// the live file, then through the sealed segments, newest first: what is
/// read is what follows the checkpoint, nothing before it. nullopt: none.
Result<std::optional<Found>> find_last_checkpoint(const segments::Files& files);

struct Walk {
  JournalCheck check;
  off_t live_end = 0;  ///< bytes of whole lines in the live file (where a torn tail starts)
  std::optional<JournalCheckpoint> last_checkpoint;  ///< the last one walked over, if asked for
};
/// Verifies the chain from `start` to the end of the live file: every line
/// parses, seq counts up by one, prev links to the previous hash, the hash
/// matches the content, checkpoints say how many records precede them, no
/// sealed segment is missing or ends in a partial line. Only the live file
/// may end in a torn line (check.torn). Reads only.
Walk walk(const segments::Files& files, const Start& start, const std::optional<JournalHead>& expected,
          bool keep_checkpoint);

/// Calls fn for each whole, parsable record from `offset` of file `file` on,
/// with its "hash"; no verification. fn returns false to stop.
void stream(const segments::Files& files, size_t file, off_t offset,
            const std::function<bool(boost::json::object&)>& fn);

}  // namespace dg::chain
