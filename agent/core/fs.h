#pragma once
/// File helpers with the durability the journal and flag files need.
#include <chrono>
#include <string>

#include "agent/core/error.h"

namespace dg::fs {

Result<std::string> read_file(const std::string& path);

/// The file a path finally names: symbolic links followed (relative targets
/// against the link's directory). A path that does not exist is returned as is.
Result<std::string> resolve_links(const std::string& path);

/// Replaces `path` atomically: temp file in the same directory, fsync, rename
/// over, fsync the directory. Readers see the old or the new content, never a
/// mix. A symlinked path stays a link: the file it points to is replaced. The
/// new file keeps the old one's mode and owner and gets a strictly newer mtime
/// (file watchers that poll mtime would otherwise miss a change within one
/// tick). Every step is checked: a failure before the rename leaves the file
/// untouched; a failed directory fsync after it is an error too (the new
/// content is in place but may not survive a power loss), and says so.
Result<void> write_file_atomic(const std::string& path, const std::string& content);

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

}  // namespace dg::fs
