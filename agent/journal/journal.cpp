#include "agent/journal/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "agent/core/fs.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"

namespace dg {
namespace {

constexpr std::string_view kHashKey = ",\"hash\":\"";

// A line is `<body without its closing brace>,"hash":"<64 hex>"}`; the hash
// covers the body exactly as written.
struct Split {
  std::string body;
  std::string hash;
};

std::optional<Split> split_line(std::string_view line) {
  auto pos = line.rfind(kHashKey);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view tail = line.substr(pos + kHashKey.size());
  if (tail.size() != 64 + 2 || !tail.ends_with("\"}")) return std::nullopt;
  return Split{std::string(line.substr(0, pos)) + "}", std::string(tail.substr(0, 64))};
}

// Calls fn(line) for each whole line of the file at `path`, then torn(rest)
// for a final line without its newline (if any). Reads through a buffer that
// grows only to the longest line: a journal of months costs a record's worth
// of memory to walk, not the file's. fn returns false to stop early.
template <class Line, class Torn>
Result<void> for_each_line(const std::string& path, Line fn, Torn torn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::string buf;
  size_t begin = 0;  // start of the unconsumed part of buf
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    if (begin > 0 && begin * 2 >= buf.size()) {
      buf.erase(0, begin);
      begin = 0;
    }
    size_t old = buf.size();
    buf.resize(old + kChunk);
    ssize_t n = ::read(fd, buf.data() + old, kChunk);
    if (n < 0 && errno == EINTR) {
      buf.resize(old);
      continue;
    }
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail(fmt::format("cannot read {}: {}", path, std::strerror(e)));
    }
    buf.resize(old + static_cast<size_t>(n));
    size_t search = old;  // a newline can only be in what was just read
    for (size_t nl; (nl = buf.find('\n', std::max(search, begin))) != std::string::npos;) {
      if (!fn(std::string_view(buf).substr(begin, nl - begin))) {
        ::close(fd);
        return {};
      }
      begin = nl + 1;
      search = begin;
    }
    if (n == 0) break;
  }
  ::close(fd);
  if (begin < buf.size()) torn(std::string_view(buf).substr(begin));
  return {};
}

// The one walk over a journal, shared by `journal verify`, open() and the head
// check, so all of them judge a file the same way. `bytes` is the length of
// the whole lines it read (where a torn tail starts).
JournalCheck scan(const std::string& path, const std::optional<JournalHead>& expected, off_t* bytes = nullptr) {
  JournalCheck check;
  std::string prev = kJournalGenesis;
  long long line_no = 0;
  off_t whole = 0;
  std::optional<std::string> hash_at_expected;
  if (expected && expected->seq == 0) hash_at_expected = kJournalGenesis;
  auto broken = [&](std::string msg) {
    check.ok = false;
    check.bad_line = line_no;
    check.message = fmt::format("{}:{}: {}", path, line_no, msg);
    return false;
  };
  auto on_line = [&](std::string_view line) {
    ++line_no;
    whole += static_cast<off_t>(line.size() + 1);
    auto split = split_line(line);
    if (!split) return broken("record has no hash field at its end");
    auto parsed = parse_json(split->body);
    if (!parsed || !parsed->is_object()) return broken("record is not a JSON object");
    const auto& o = parsed->as_object();
    const auto* seq = o.if_contains("seq");
    if (!seq || !seq->is_int64() || seq->as_int64() != check.records + 1)
      return broken(fmt::format("seq is not {} (records were removed, reordered or inserted)", check.records + 1));
    const auto* p = o.if_contains("prev");
    if (!p || !p->is_string() || p->as_string() != prev)
      return broken(fmt::format("record {} does not link to the previous record's hash", check.records + 1));
    if (sha256_hex(split->body) != split->hash)
      return broken(fmt::format("record {} was modified (hash mismatch)", check.records + 1));
    prev = split->hash;
    ++check.records;
    if (expected && expected->seq == check.records) hash_at_expected = split->hash;
    return true;
  };
  auto on_torn = [&](std::string_view rest) {
    if (check.ok) check.torn = TornTail{check.records, rest.size(), sha256_hex(rest)};
  };
  if (auto r = for_each_line(path, on_line, on_torn); !r) {
    check.ok = false;
    check.message = r.error().message;
  }
  if (bytes) *bytes = whole;
  check.head = {check.records, prev};
  if (check.ok) {
    check.message = fmt::format("{}: {} record(s), chain intact, head {}", path, check.records, check.head.str());
    if (check.torn)
      check.message += fmt::format("; a torn final line follows ({} byte(s), sha256 {})", check.torn->bytes,
                                   check.torn->sha256);
  }
  if (expected) {
    if (hash_at_expected) {
      check.head_ok = *hash_at_expected == expected->hash;
      check.head_message =
          *check.head_ok ? fmt::format("record {} matches the expected head ({} record(s) after it)", expected->seq,
                                       check.records - expected->seq)
                         : fmt::format("REWRITTEN: record {} has hash {}, not the expected {}", expected->seq,
                                       *hash_at_expected, expected->hash);
    } else {
      check.head_ok = false;
      check.head_message = check.ok ? fmt::format("TRUNCATED: the journal ends at seq {}, before the expected head {}",
                                                  check.records, expected->seq)
                                    : fmt::format("cannot find record {}: the chain breaks at line {} before it",
                                                  expected->seq, check.bad_line);
    }
  }
  return check;
}


}  // namespace

ssize_t JournalIo::write(int fd, const void* data, size_t size) { return ::write(fd, data, size); }
int JournalIo::fsync(int fd) { return ::fsync(fd); }
int JournalIo::ftruncate(int fd, off_t size) { return ::ftruncate(fd, size); }

std::string JournalHead::str() const { return fmt::format("{}:{}", seq, hash); }

Result<JournalHead> parse_journal_head(std::string_view text) {
  auto colon = text.find(':');
  auto bad = [&] { return fail(fmt::format("`{}` is not SEQ:HASH (a record number, a colon and 64 hex digits)", text::excerpt(text, 100))); };
  if (colon == std::string_view::npos || colon == 0) return bad();
  JournalHead h;
  h.seq = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9' || h.seq > 1'000'000'000'000LL) return bad();
    h.seq = h.seq * 10 + (c - '0');
  }
  std::string_view hash = text.substr(colon + 1);
  if (hash.size() != 64) return bad();
  for (char c : hash)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return bad();
  h.hash = std::string(hash);
  return h;
}


struct Journal::Lock {
  mutable std::mutex mu;
};

Journal::Journal(std::string path, int fd, const Clock& clock, long long seq, std::string prev, off_t size,
                 std::shared_ptr<JournalIo> io)
    : path_(std::move(path)),
      fd_(fd),
      clock_(clock),
      seq_(seq),
      prev_(std::move(prev)),
      size_(size),
      io_(std::move(io)),
      lock_(std::make_shared<Lock>()) {}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, const Clock& clock,
                                               std::shared_ptr<JournalIo> io) {
  if (!io) io = std::make_shared<JournalIo>();
  auto opened = fs::open_for_append(path);
  if (!opened) return fail("journal: " + opened.error().message);
  int fd = *opened;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return fail(fmt::format("journal {} is in use by another deployguard process", path));
  }
  // The run reads the whole journal (reconciliation), so all of it must verify:
  // a modified journal is evidence to keep, never one to build on.
  off_t size = 0;
  JournalCheck check = scan(path, std::nullopt, &size);
  if (!check.ok && check.bad_line == 0) {  // not damaged: it could not be read
    ::close(fd);
    return fail("journal: " + check.message);
  }
  if (!check.ok) {
    ::close(fd);
    return fail(fmt::format("journal {} is damaged ({}); it will not be extended. Keep it as evidence and start a new "
                            "journal: move it aside (mv {} {}.damaged) or set agent.journal to a new path. "
                            "`deployguard journal verify {}` shows the first broken record",
                            path, check.message, path, path, path));
  }
  if (check.torn && (io->ftruncate(fd, size) != 0 || io->fsync(fd) != 0)) {
    int e = errno;
    ::close(fd);
    return fail(fmt::format("cannot drop the torn last line of {}: {}", path, std::strerror(e)));
  }
  std::unique_ptr<Journal> j(new Journal(path, fd, clock, check.head.seq, check.head.hash, size, std::move(io)));
  if (check.torn) {
    // A final line without newline was never acknowledged (the process died
    // inside write); it is dropped, and the chain says what was dropped.
    j->dropped_ = check.torn;
    auto r = j->append("torn_record_dropped", {{"data", {{"after_seq", check.torn->after_seq},
                                                          {"bytes", check.torn->bytes},
                                                          {"sha256", check.torn->sha256}}}});
    if (!r) return std::unexpected(r.error());
  }
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::set_context(JournalContext ctx) {
  std::lock_guard lock(lock_->mu);
  ctx_ = std::move(ctx);
}

JournalHead Journal::head() const {
  std::lock_guard lock(lock_->mu);
  return {seq_, prev_};
}

// Cuts the file back to its last whole record after a failed append.
bool Journal::cut_back(off_t size) {
  if (io_->ftruncate(fd_, size) == 0 && io_->fsync(fd_) == 0) return true;
  poisoned_ = true;
  return false;
}

Result<long long> Journal::append(const std::string& kind, boost::json::object fields) {
  std::lock_guard lock(lock_->mu);
  if (poisoned_)
    return fail(fmt::format("journal {} ends in a partial record that could not be removed; nothing more is "
                            "appended after it",
                            path_));
  boost::json::object rec;
  long long seq = seq_ + 1;
  rec["seq"] = seq;
  rec["time"] = text::rfc3339(clock_.wall());  // a record is stamped with calendar time
  rec["kind"] = kind;
  rec["service"] = ctx_.service;
  rec["environment"] = ctx_.environment;
  rec["release"] = ctx_.release;
  rec["run"] = ctx_.run;
  for (auto& kv : fields) rec[kv.key()] = std::move(kv.value());
  rec["prev"] = prev_;
  // Redacted as a value: the record's own fields (and every number) stay as
  // written, so a short secret cannot garble the time or break the chain.
  boost::json::value redacted(std::move(rec));
  secrets::redact_json(redacted, {"seq", "time", "kind", "prev", "hash"});
  std::string body = boost::json::serialize(redacted);
  std::string hash = sha256_hex(body);
  std::string line = body.substr(0, body.size() - 1) + std::string(kHashKey) + hash + "\"}\n";
  // One write() of the whole line: a kill leaves at most a torn final line.
  // A short write is cut off, never completed by a second write.
  ssize_t n;
  do n = io_->write(fd_, line.data(), line.size());
  while (n < 0 && errno == EINTR);
  int e = errno;
  auto failed = [&](std::string what) {
    bool cut = cut_back(size_);
    return fail(fmt::format("cannot append to journal {}: {}{}", path_, what,
                            cut ? "" : "; the partial record could not be removed, so no further record is written"));
  };
  if (n < 0) return failed(std::strerror(e));
  if (static_cast<size_t>(n) != line.size())
    return failed(fmt::format("short write ({} of {} bytes), cut back to the last whole record", n, line.size()));
  if (io_->fsync(fd_) != 0) {
    e = errno;
    return failed(fmt::format("fsync failed ({}), the record was cut back off", std::strerror(e)));
  }
  size_ += static_cast<off_t>(line.size());
  seq_ = seq;
  prev_ = hash;
  return seq;
}

JournalCheck verify_journal(const std::string& path, const std::optional<JournalHead>& expected) {
  return scan(path, expected);
}

void for_each_record(const std::string& path, const std::function<bool(boost::json::object&)>& fn) {
  (void)for_each_line(
      path,
      [&](std::string_view line) {
        auto split = split_line(line);
        if (!split) return true;
        auto v = parse_json(split->body);
        if (!v || !v->is_object()) return true;
        auto& o = v->as_object();
        o["hash"] = split->hash;
        return fn(o);
      },
      [](std::string_view) {});
}

}  // namespace dg
