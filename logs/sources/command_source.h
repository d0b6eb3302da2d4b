#pragma once
/// The `command` log source: the lines a long-running command prints on
/// stdout (`kubectl logs -f -l app=wiki`, `docker logs -f web`), started
/// through start_command (argv only, explicit environment, own process
/// group) on an io_context of its own that poll() runs without blocking, so
/// the same source serves verify's thread and the watcher's timer. When the
/// command exits it is started again after a backoff that doubles from
/// `restart_min` to `restart_max` (back to the minimum after a run that
/// printed something). Destroying the source stops the command's group.
#include <memory>

#include "logs/log_source.h"

namespace dg::logs {

Result<std::unique_ptr<LogSource>> make_command_source(const LogSourceSpec& spec, const Clock& clock);

}  // namespace dg::logs
