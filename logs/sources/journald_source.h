#pragma once
/// The `journald` log source, through libsystemd's sd-journal: the local
/// journal, or the journal files of one directory (`directory`, read with
/// sd_journal_open_directory: no running journald needed). Entries match any
/// of `units` (_SYSTEMD_UNIT) and all of `matches` (FIELD=value); the cursor
/// is set to the baseline window's start, then follows new entries (the
/// journal's inotify descriptor, processed on each poll). A line is the
/// entry's MESSAGE, at its realtime stamp, with its PRIORITY as the level.
#include <memory>

#include "logs/log_source.h"

namespace dg::logs {

Result<std::unique_ptr<LogSource>> make_journald_source(const LogSourceSpec& spec, const Clock& clock);

}  // namespace dg::logs
