#pragma once
/// The files of one journal (internal to agent/journal). The journal's path P
/// names the live segment, the only file appended to; the sealed segments
/// P.000001, P.000002, … hold what came before it, oldest first; P.lock is
/// the lock every writer takes — a sibling, because rotation renames P and a
/// lock on the renamed inode would exclude nobody who opens the new P.
#include <string>
#include <vector>

#include "agent/core/error.h"

namespace dg::segments {

/// `P.000042`: six digits at least, more when the number needs them.
std::string sealed_path(const std::string& live, long long number);
std::string lock_path(const std::string& live);

struct Sealed {
  long long number = 0;
  std::string path;
};

/// The sealed segments beside `live`, by number. Gaps are kept: a missing
/// middle segment is for the chain walk to report.
Result<std::vector<Sealed>> list_sealed(const std::string& live);

/// A descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release();

 private:
  int fd_ = -1;
};

/// Every file of a journal, in chain order: the sealed segments, then the
/// live file (index sealed.size()). The live file is held open, so a reader
/// keeps reading the inode it listed even if a writer seals it meanwhile.
struct Files {
  std::string live;
  std::vector<Sealed> sealed;
  Fd live_fd;  ///< -1: no live file (a rotation died before creating it)

  size_t count() const { return sealed.size() + 1; }
  bool is_live(size_t i) const { return i == sealed.size(); }
  const std::string& path(size_t i) const { return is_live(i) ? live : sealed[i].path; }
};

/// A consistent view of the journal at `live` for a reader that holds no
/// lock: the live file is opened between two listings that agree, so a
/// rotation running meanwhile can neither hide a segment nor show one twice.
/// The path is followed through symbolic links (as the writer does).
Result<Files> open_for_reading(const std::string& live);

/// `path` with symbolic links followed; `path` itself when it cannot be.
std::string real_path(const std::string& path);

}  // namespace dg::segments
