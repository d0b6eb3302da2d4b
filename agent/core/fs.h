#pragma once
/// File helpers with the durability the journal and flag files need.
#include <chrono>
#include <functional>
#include <string>

#include "agent/core/error.h"

namespace dg::fs {

Result<std::string> read_file(const std::string& path);

/// The file a path finally names: symbolic links followed (relative targets
/// against the link's directory). A path that does not exist is returned as is.
Result<std::string> resolve_links(const std::string& path);

/// What a replace that got as far as the rename left behind.
struct ReplaceResult {
  /// false: `still_current` said the target changed since the caller read it;
  /// nothing was written (the temp file is gone) and the caller may start again.
  bool replaced = true;
  /// false: the new content is in place, but the directory fsync (or closing
  /// the directory) failed, so it may not survive a power loss. `warning` says why.
  bool durable = true;
  std::string warning;
};

struct ReplaceOptions {
  /// Checked immediately before rename(): false aborts the write (see
  /// ReplaceResult::replaced). A writer that does not take the caller's lock
  /// can still slip in between this check and the rename (microseconds).
  std::function<bool()> still_current;
};

/// Replaces `path` atomically: temp file in the same directory, fsync, rename
/// over, fsync the directory. Readers see the old or the new content, never a
/// mix. A symlinked path stays a link: the file it points to is replaced. The
/// new file keeps the old one's mode and owner and gets a strictly newer mtime
/// (file watchers that poll mtime would otherwise miss a change within one
/// tick). Every step is checked: an error means nothing was written (the file
/// is untouched); a failure after the rename is not an error but a result with
/// `durable == false`, since the new content is in place and callers must
/// account for it (a flag write's undo, say).
Result<ReplaceResult> replace_file(const std::string& path, const std::string& content,
                                   const ReplaceOptions& options = {});

/// replace_file for callers with no use for the distinction: a replace that is
/// in place but not durable is an error too, and says so.
Result<void> write_file_atomic(const std::string& path, const std::string& content);

/// Opens `path` for appending (O_APPEND, mode 0644), creating it and its
/// directories if needed; a new file's directory is fsync'd so the file itself
/// survives a power loss. Returns the descriptor.
Result<int> open_for_append(const std::string& path, int extra_flags = 0);

namespace testing {
/// Failure injection: stands in for fsync(2) on replace_file's temp file and
/// on its directory. Empty functions mean the real call. Set it while no
/// replace_file runs on another thread.
struct FsyncHooks {
  std::function<int(int fd)> temp_file, directory;
};
void set_fsync_hooks(FsyncHooks hooks);
}  // namespace testing

/// An exclusive advisory lock (flock) on a lock file, released on destruction.
/// flock belongs to the open file description, so two holders in one process
/// exclude each other as two processes do.
class FileLock {
 public:
  FileLock() = default;
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  int fd_ = -1;
};

/// Creates `lock_path` if needed (it is never removed: removing a lock file
/// lets two writers lock two different inodes) and waits at most `timeout`
/// for the lock.
Result<FileLock> lock_exclusive(const std::string& lock_path, std::chrono::milliseconds timeout);

/// Waits at most `timeout` for an exclusive flock on an open descriptor (the
/// lock goes with the descriptor's close); `what` names it in errors.
Result<void> lock_fd_exclusive(int fd, const std::string& what, std::chrono::milliseconds timeout);

}  // namespace dg::fs
