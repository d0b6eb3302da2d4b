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
#include "agent/journal/chain.h"
#include "agent/journal/segments.h"

namespace dg {

ssize_t JournalIo::write(int fd, const void* data, size_t size) { return ::write(fd, data, size); }
int JournalIo::fsync(int fd) { return ::fsync(fd); }
int JournalIo::ftruncate(int fd, off_t size) { return ::ftruncate(fd, size); }
int JournalIo::rename(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // A file system without RENAME_NOREPLACE: the writer holds the lock, so
  // checking first is enough against another deployguard.
  if (::access(to.c_str(), F_OK) == 0) {
    errno = EEXIST;
    return -1;
  }
  return ::rename(from.c_str(), to.c_str());
}
int JournalIo::create(const std::string& path) {
  return ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

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


namespace {

std::string parent_dir(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Takes the journal's lock: flock on the sibling `P.lock`, whose inode never
// changes (it is never renamed or removed), so it excludes across rotations.
Result<fs::FileLock> lock_journal(const std::string& real, const std::string& path) {
  auto fd = fs::open_for_append(segments::lock_path(real));  // creates the directory too
  if (!fd) return fail("journal: " + fd.error().message);
  fs::FileLock lock(*fd);
  while (::flock(*fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return fail(fmt::format("journal {} is in use by another deployguard process", path));
    return fail(fmt::format("cannot lock {}: {}", segments::lock_path(real), std::strerror(errno)));
  }
  return lock;
}

}  // namespace

struct Journal::Lock {
  mutable std::mutex mu;
  fs::FileLock file;
};

struct Journal::State {
  std::string real;
  int fd = -1;
  long long seq = 0;
  std::string prev = kJournalGenesis;
  off_t size = 0;
  long long sealed = 0;
  std::optional<JournalCheckpoint> checkpoint;
  fs::FileLock lock;
};

Journal::Journal(std::string path, const Clock& clock, std::shared_ptr<JournalIo> io, JournalOptions options,
                 State state)
    : path_(std::move(path)),
      real_(std::move(state.real)),
      fd_(state.fd),
      clock_(clock),
      seq_(state.seq),
      prev_(std::move(state.prev)),
      size_(state.size),
      sealed_(state.sealed),
      io_(std::move(io)),
      options_(options),
      checkpoint_(std::move(state.checkpoint)),
      lock_(std::make_shared<Lock>()) {
  lock_->file = std::move(state.lock);
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, const Clock& clock,
                                               std::shared_ptr<JournalIo> io, JournalOptions options) {
  if (!io) io = std::make_shared<JournalIo>();
  State st;
  st.real = segments::real_path(path);  // a symlinked journal rotates where its files are
  auto lock = lock_journal(st.real, path);
  if (!lock) return std::unexpected(lock.error());
  st.lock = std::move(*lock);
  // A crash between sealing P and creating the next one leaves no P: it is
  // created here, and its first record links to the last sealed one.
  auto opened = fs::open_for_append(st.real);
  if (!opened) return fail("journal: " + opened.error().message);
  segments::Files files;
  files.live = st.real;
  files.live_fd = segments::Fd(*opened);
  // A deployguard from before segments locks the journal file itself.
  if (::flock(files.live_fd.get(), LOCK_EX | LOCK_NB) != 0)
    return fail(fmt::format("journal {} is in use by another deployguard process", path));
  auto sealed = segments::list_sealed(st.real);
  if (!sealed) return fail("journal: " + sealed.error().message);
  files.sealed = std::move(*sealed);
  st.sealed = files.sealed.empty() ? 0 : files.sealed.back().number;

  // The run reads from the last checkpoint on (replay), so all of that must
  // verify: a journal modified there is evidence to keep, never one to build
  // on. What precedes the checkpoint is vouched for by its prev, and checked
  // by `journal verify`.
  chain::Start start;
  if (!options.full_verify_on_open) {
    auto found = chain::find_last_checkpoint(files);
    if (!found) return fail("journal: " + found.error().message);
    if (*found) {
      start = (*found)->start;
      st.checkpoint = std::move((*found)->checkpoint);
    }
  }
  chain::Walk walked = chain::walk(files, start, std::nullopt, options.full_verify_on_open);
  const JournalCheck& check = walked.check;
  if (!check.ok && check.read_error) return fail("journal: " + check.message);
  if (!check.ok) {
    std::string aside = files.sealed.empty()
                            ? fmt::format("move it aside (mv {} {}.damaged)", path, path)
                            : fmt::format("move it aside with its sealed segments ({}.NNNNNN)", path);
    return fail(fmt::format("journal {} is damaged ({}); it will not be extended. Keep it as evidence and start a new "
                            "journal: {} or set agent.journal to a new path. "
                            "`deployguard journal verify {}` shows the first broken record",
                            path, check.message, aside, path));
  }
  if (options.full_verify_on_open) st.checkpoint = std::move(walked.last_checkpoint);
  int fd = files.live_fd.get();
  if (check.torn && (io->ftruncate(fd, walked.live_end) != 0 || io->fsync(fd) != 0))
    return fail(fmt::format("cannot drop the torn last line of {}: {}", path, std::strerror(errno)));
  st.fd = files.live_fd.release();
  st.seq = check.head.seq;
  st.prev = check.head.hash;
  st.size = walked.live_end;
  std::unique_ptr<Journal> j(new Journal(path, clock, std::move(io), options, std::move(st)));
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

std::optional<JournalCheckpoint> Journal::last_checkpoint() const {
  std::lock_guard lock(lock_->mu);
  return checkpoint_;
}

// Cuts the file back to its last whole record after a failed append.
bool Journal::cut_back(off_t size) {
  if (io_->ftruncate(fd_, size) == 0 && io_->fsync(fd_) == 0) return true;
  poisoned_ = true;
  return false;
}

// Seals the live file and starts the next one. Every step leaves a journal
// open() accepts: P sealed and no new P yet (open creates it), a new empty P,
// a new P with a torn first record (dropped as any torn tail). A step that
// fails is retried by the next append: after the rename, the old descriptor
// is closed, so no record can land in a sealed segment.
Result<void> Journal::rotate() {
  if (fd_ >= 0) {
    std::string sealed = segments::sealed_path(real_, sealed_ + 1);
    if (io_->rename(real_, sealed) != 0)
      return fail(fmt::format("cannot seal {} as {}: {}", path_, sealed, std::strerror(errno)));
    ::close(fd_);
    fd_ = -1;
    ++sealed_;
    size_ = 0;
  }
  segments::Fd fd(io_->create(real_));
  if (fd.get() < 0) return fail(fmt::format("cannot start the new live file {}: {}", path_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(fmt::format("cannot stat {}: {}", path_, std::strerror(errno)));
  if (st.st_size != 0)  // we hold the lock: only a writer that ignores it put this here
    return fail(fmt::format("{} appeared with content while the journal was being rotated; nothing written", path_));
  // One directory fsync makes both the rename and the new file durable; no
  // record goes in before it, so the chain never outlives its own rename.
  segments::Fd dir(::open(parent_dir(real_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || io_->fsync(dir.get()) != 0)
    return fail(fmt::format("cannot make the rotation of {} durable: {}", path_, std::strerror(errno)));
  (void)::flock(fd.get(), LOCK_EX | LOCK_NB);  // best effort, for binaries that lock the file itself
  fd_ = fd.release();
  return {};
}

Result<long long> Journal::append(const std::string& kind, boost::json::object fields) {
  if (kind == "checkpoint") return fail("journal: checkpoint records are written by append_checkpoint()");
  std::lock_guard lock(lock_->mu);
  return append_locked(kind, std::move(fields), nullptr);
}

Result<long long> Journal::append_checkpoint(boost::json::object sections) {
  std::lock_guard lock(lock_->mu);
  boost::json::object written;
  auto seq = append_locked("checkpoint", {{"data", {{"records_before", seq_}, {"sections", std::move(sections)}}}},
                           &written);
  if (seq) checkpoint_ = JournalCheckpoint{*seq, written.at("data").at("sections").as_object()};
  return seq;
}

Result<long long> Journal::append_locked(const std::string& kind, boost::json::object fields,
                                         boost::json::object* written) {
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
  std::string hash;
  std::string line = chain::seal_line(body, hash);
  // A segment is sealed before the record that would overflow it; a record
  // larger than a segment goes in whole, alone.
  bool full = options_.max_segment_bytes > 0 && size_ > 0 &&
              size_ + static_cast<off_t>(line.size()) > options_.max_segment_bytes;
  if (fd_ < 0 || full) {
    if (auto r = rotate(); !r) return fail(fmt::format("cannot append to journal {}: {}", path_, r.error().message));
  }
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
  if (written) *written = std::move(redacted.as_object());
  return seq;
}

JournalCheck verify_journal(const std::string& path, const std::optional<JournalHead>& expected) {
  auto files = segments::open_for_reading(path);
  if (!files) {
    JournalCheck check;
    check.ok = false;
    check.read_error = true;
    check.bad_segment = path;
    check.message = files.error().message;
    return check;
  }
  return chain::walk(*files, {}, expected, false).check;
}

void for_each_record(const std::string& path, const std::function<bool(boost::json::object&)>& fn) {
  auto files = segments::open_for_reading(path);
  if (files) chain::stream(*files, 0, 0, fn);
}

void for_each_record_since_checkpoint(const std::string& path,
                                      const std::function<bool(boost::json::object&)>& fn) {
  auto files = segments::open_for_reading(path);
  if (!files) return;
  auto found = chain::find_last_checkpoint(*files);
  if (found && *found)
    chain::stream(*files, (*found)->start.file, (*found)->start.offset, fn);
  else
    chain::stream(*files, 0, 0, fn);
}

std::vector<std::string> journal_files(const std::string& path) {
  std::vector<std::string> out;
  std::string real = segments::real_path(path);
  if (auto sealed = segments::list_sealed(real))
    for (const auto& s : *sealed) out.push_back(s.path);
  if (::access(real.c_str(), F_OK) == 0) out.push_back(real);
  return out;
}

}  // namespace dg
