#pragma once
/// File helpers with the durability the journal and flag files need.
#include <string>

#include "agent/core/error.h"

namespace dg::fs {

Result<std::string> read_file(const std::string& path);
/// Replaces `path` atomically: temp file in the same directory, fsync, rename
/// over, fsync the directory. Readers see the old or the new content, never a
/// mix. The new file gets the old one's mode and a strictly newer mtime (file
/// watchers that poll mtime would otherwise miss a change within one tick).
Result<void> write_file_atomic(const std::string& path, const std::string& content);

}  // namespace dg::fs
