#pragma once
/// The `file` log source: tails files named by paths or glob patterns.
/// Rotation by rename (the path now names a new inode: the old file is read
/// to its end, then the new one from its start) and by copytruncate (the
/// file is shorter than what was read: read again from its start) are both
/// followed; a path that disappears is waited for. At open, the last
/// `backfill_bytes` of each file (from a line start) are history: stamped
/// with the file's modification time, unless the header gives a time.
#include <memory>

#include "logs/log_source.h"

namespace dg::logs {

Result<std::unique_ptr<LogSource>> make_file_source(const LogSourceSpec& spec, const Clock& clock);

}  // namespace dg::logs
