#pragma once
/// Journal: the append-only, hash-chained JSON Lines record of every decision
/// with its evidence. append() writes one whole line with a single write() and
/// fsyncs before returning, so an intent is durable before the side effect it
/// announces; a failed write or fsync is cut back off, so the file never holds
/// a partial record followed by good ones. Thread-safe. One process holds a
/// journal at a time (flock).
#include <sys/types.h>

#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

/// The genesis `prev` value.
inline constexpr const char* kJournalGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

struct JournalContext {
  std::string service;
  std::string environment;
  std::string release;
  std::string run;  ///< id of this agent run
};

/// The chain's head: seq and hash of the last record (seq 0 and the genesis
/// hash for an empty journal). Printed as `SEQ:HASH`.
struct JournalHead {
  long long seq = 0;
  std::string hash = kJournalGenesis;
  std::string str() const;
};
/// Parses `SEQ:HASH` (HASH: 64 lowercase hex digits).
Result<JournalHead> parse_journal_head(std::string_view text);

/// The system calls append() makes, so tests can make them fail.
struct JournalIo {
  virtual ~JournalIo() = default;
  virtual ssize_t write(int fd, const void* data, size_t size);
  virtual int fsync(int fd);
  virtual int ftruncate(int fd, off_t size);
};

/// A final line without its newline: the process died inside write(). It was
/// never acknowledged, so it is dropped, but never silently.
struct TornTail {
  long long after_seq = 0;  ///< the last whole record before it
  size_t bytes = 0;
  std::string sha256;  ///< of the dropped bytes
};

class Journal {
 public:
  /// Opens (creating if needed, with its directory entry fsync'd) and locks
  /// the journal, and verifies the whole chain: a journal modified anywhere is
  /// refused, never extended. A torn final line is dropped and a
  /// `torn_record_dropped` record says so (see dropped_tail()).
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const Clock& clock,
                                               std::shared_ptr<JournalIo> io = nullptr);
  virtual ~Journal();

  void set_context(JournalContext ctx);
  /// Appends {seq, time, kind, context..., fields..., prev, hash}. Text is
  /// redacted of secrets before it is hashed and written. Returns the seq.
  virtual Result<long long> append(const std::string& kind, boost::json::object fields);
  const std::string& path() const { return path_; }
  /// Seq and hash of the last record written.
  JournalHead head() const;
  /// What open() dropped, if the file ended in a torn line.
  const std::optional<TornTail>& dropped_tail() const { return dropped_; }

 protected:
  Journal(std::string path, int fd, const Clock& clock, long long seq, std::string prev, off_t size,
          std::shared_ptr<JournalIo> io);

 private:
  bool cut_back(off_t size);
  std::string path_;
  int fd_;
  const Clock& clock_;
  long long seq_;
  std::string prev_;
  off_t size_;  ///< bytes of whole records in the file
  bool poisoned_ = false;  ///< a failed record could not be cut off: no record may follow it
  std::shared_ptr<JournalIo> io_;
  std::optional<TornTail> dropped_;
  JournalContext ctx_;
  struct Lock;
  std::shared_ptr<Lock> lock_;
};

struct JournalCheck {
  bool ok = true;           ///< every whole record verifies
  long long records = 0;    ///< whole records that verify
  long long bad_line = 0;   ///< 1-based line of the first broken record
  std::string message;
  JournalHead head;              ///< the last record that verifies
  std::optional<TornTail> torn;  ///< a final line without newline (not a record)
  /// With an expected head: whether record `expected.seq` has `expected.hash`.
  std::optional<bool> head_ok;
  std::string head_message;
};

/// Walks the chain: every line parses, seq counts up from 1, prev links to the
/// previous hash, and the hash matches the record's content. With `expected`,
/// also checks that the journal holds that record (truncated or rewritten
/// otherwise). Reads only.
JournalCheck verify_journal(const std::string& path, const std::optional<JournalHead>& expected = std::nullopt);

/// Calls fn for each whole record of the journal, parsed, in order (with its
/// "hash"; unparsable lines are skipped: callers read journals that open()
/// verified), streaming: memory follows the largest record, not the journal.
/// fn returns false to stop.
void for_each_record(const std::string& path, const std::function<bool(boost::json::object&)>& fn);

}  // namespace dg
