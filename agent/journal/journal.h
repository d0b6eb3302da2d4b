#pragma once
/// Journal: the append-only, hash-chained JSON Lines record of every decision
/// with its evidence. append() writes one whole line with a single write() and
/// fsyncs before returning, so an intent is durable before the side effect it
/// announces; a failed write or fsync is cut back off, so the file never holds
/// a partial record followed by good ones. Thread-safe. One process holds a
/// journal at a time (flock on the sibling `P.lock`).
///
/// Segments: the path P is the live segment. When an append would take it past
/// JournalOptions::max_segment_bytes, P is renamed to the next sealed segment
/// (P.000001, P.000002, …) and a new P starts; its first record links to the
/// sealed one's last (seq continues, prev is its hash). A checkpoint record
/// carries the state modules need to resume (sections) and, through its prev,
/// the hash of everything before it, so open() verifies only from the last
/// checkpoint; verify_journal() checks every segment.
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
  virtual int fsync(int fd);  ///< also on the directory, after a rotation
  virtual int ftruncate(int fd, off_t size);
  /// Seals the live file: rename(2) that never replaces an existing `to`.
  virtual int rename(const std::string& from, const std::string& to);
  /// Opens (creating if needed) the new live file for appending; returns a descriptor or -1.
  virtual int create(const std::string& path);
};

struct JournalOptions {
  /// The live file is sealed when an append would take it past this many
  /// bytes (a larger record still goes in whole, alone). 0: never sealed.
  off_t max_segment_bytes = 64 << 20;
  /// open() verifies every segment, not only from the last checkpoint.
  bool full_verify_on_open = false;
};

/// A checkpoint record: the sections the modules wrote (name -> their JSON).
struct JournalCheckpoint {
  long long seq = 0;
  boost::json::object sections;
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
  /// the journal, and verifies the chain from the last checkpoint (searched
  /// backward from the end; the whole chain without one, or with
  /// full_verify_on_open): a journal modified after it is refused, never
  /// extended. A torn final line is dropped and a `torn_record_dropped`
  /// record says so (see dropped_tail()).
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const Clock& clock,
                                               std::shared_ptr<JournalIo> io = nullptr, JournalOptions options = {});
  virtual ~Journal();

  void set_context(JournalContext ctx);
  /// Appends {seq, time, kind, context..., fields..., prev, hash}, sealing the
  /// live segment first if the record would take it past max_segment_bytes.
  /// Text is redacted of secrets before it is hashed and written. Returns the
  /// seq. Kind `checkpoint` is append_checkpoint()'s alone.
  virtual Result<long long> append(const std::string& kind, boost::json::object fields);
  /// Appends a `checkpoint` record: data {records_before, sections}; its prev
  /// is the hash of everything before it. Sections are owned by the modules
  /// that write them (name -> JSON) and are redacted like any record.
  Result<long long> append_checkpoint(boost::json::object sections);
  const std::string& path() const { return path_; }
  /// Seq and hash of the last record written.
  JournalHead head() const;
  /// The last checkpoint record (found by open() or written since).
  std::optional<JournalCheckpoint> last_checkpoint() const;
  /// What open() dropped, if the file ended in a torn line.
  const std::optional<TornTail>& dropped_tail() const { return dropped_; }

 protected:
  struct State;
  Journal(std::string path, const Clock& clock, std::shared_ptr<JournalIo> io, JournalOptions options, State state);

 private:
  Result<long long> append_locked(const std::string& kind, boost::json::object fields,
                                  boost::json::object* written);
  Result<void> rotate();
  bool cut_back(off_t size);
  std::string path_;  ///< as given (messages)
  std::string real_;  ///< the live file, symbolic links followed: what is renamed and created
  int fd_ = -1;       ///< the live file; -1 after a seal whose new live file could not be created yet
  const Clock& clock_;
  long long seq_ = 0;
  std::string prev_;
  off_t size_ = 0;          ///< bytes of whole records in the live file
  long long sealed_ = 0;    ///< the highest sealed segment's number
  bool poisoned_ = false;  ///< a failed record could not be cut off: no record may follow it
  std::shared_ptr<JournalIo> io_;
  JournalOptions options_;
  std::optional<TornTail> dropped_;
  std::optional<JournalCheckpoint> checkpoint_;
  JournalContext ctx_;
  struct Lock;
  std::shared_ptr<Lock> lock_;
};

struct JournalCheck {
  bool ok = true;           ///< every whole record verifies
  bool read_error = false;  ///< not ok because a file could not be read (no verdict on the chain)
  long long records = 0;    ///< seq of the last record that verifies (from the start: how many verify)
  long long segments = 0;   ///< files walked (sealed segments and the live file)
  std::string bad_segment;  ///< the file of the first broken record, or the missing segment
  long long bad_line = 0;   ///< 1-based line of the first broken record in bad_segment (0: unknown)
  std::string message;
  JournalHead head;              ///< the last record that verifies
  std::optional<TornTail> torn;  ///< a final line without newline (not a record)
  /// With an expected head: whether record `expected.seq` has `expected.hash`.
  std::optional<bool> head_ok;
  std::string head_message;
};

/// Walks the chain over every segment in order, across their boundaries: every
/// line parses, seq counts up from 1, prev links to the previous hash, the hash
/// matches the record's content, no sealed segment is missing. With
/// `expected`, also checks that the journal holds that record (truncated or
/// rewritten otherwise). Reads only; safe beside a writer that rotates.
JournalCheck verify_journal(const std::string& path, const std::optional<JournalHead>& expected = std::nullopt);

/// Calls fn for each whole record of the journal (every segment), parsed, in
/// order (with its "hash"; unparsable lines are skipped: callers read journals
/// that open() verified), streaming: memory follows the largest record, not
/// the journal. fn returns false to stop.
void for_each_record(const std::string& path, const std::function<bool(boost::json::object&)>& fn);

/// for_each_record from the last checkpoint record on (inclusive), for replay;
/// from the start when the journal holds no checkpoint.
void for_each_record_since_checkpoint(const std::string& path,
                                      const std::function<bool(boost::json::object&)>& fn);

/// The journal's files in chain order: its sealed segments, then the live file
/// (each only if it exists).
std::vector<std::string> journal_files(const std::string& path);

}  // namespace dg
