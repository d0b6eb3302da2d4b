#pragma once
/// Journal: the append-only, hash-chained JSON Lines record of every decision
/// with its evidence. append() writes one whole line with a single write() and
/// fsyncs before returning, so an intent is durable before the side effect it
/// announces. Thread-safe. One process holds a journal at a time (flock).
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

struct JournalContext {
  std::string service;
  std::string environment;
  std::string release;
  std::string run;  ///< id of this agent run
};

class Journal {
 public:
  /// Opens (creating if needed) and locks the journal; finds the chain's tail.
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const Clock& clock);
  virtual ~Journal();

  void set_context(JournalContext ctx);
  /// Appends {seq, time, kind, context..., fields..., prev, hash}. Text is
  /// redacted of secrets before it is hashed and written. Returns the seq.
  virtual Result<long long> append(const std::string& kind, boost::json::object fields);
  const std::string& path() const { return path_; }

 protected:
  Journal(std::string path, int fd, const Clock& clock, long long seq, std::string prev);

 private:
  std::string path_;
  int fd_;
  const Clock& clock_;
  long long seq_;
  std::string prev_;
  JournalContext ctx_;
  struct Lock;
  std::shared_ptr<Lock> lock_;
};

struct JournalCheck {
  bool ok = true;
  long long records = 0;
  long long bad_line = 0;  ///< 1-based line of the first broken record
  std::string message;
};

/// Walks the chain: every line parses, seq counts up from 1, prev links to the
/// previous hash, and the hash matches the record's content.
JournalCheck verify_journal(const std::string& path);

/// Actions whose intent was journaled without an outcome: the process died
/// mid-action (kill -9, power loss). One line per orphan, for people.
std::vector<std::string> orphaned_intents(const std::string& path);

/// The genesis `prev` value.
inline constexpr const char* kJournalGenesis = "0000000000000000000000000000000000000000000000000000000000000000";

}  // namespace dg
