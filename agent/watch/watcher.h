#pragma once
/// `deployguard watch`: the continuous watcher. One Boost.Asio event loop
/// owns every timer (each probe and metric condition on its own schedule,
/// with a little jitter), runs HTTP signals through libcurl's multi interface
/// and commands through Boost.Process, feeds what they observe to the
/// remediation engine (agent/engine/engine.h), and serves the HTTP API and
/// /metrics on the same loop. It replays its journal on start, reloads its
/// config on SIGHUP or a file change, and stops cleanly on SIGTERM.
#include <functional>
#include <string>

#include "agent/engine/engine.h"

namespace dg {

struct WatchOptions {
  std::string config_path;
  std::string run_id;
  bool dry_run = false;
  /// systemd's notification protocol ("READY=1", "RELOADING=1", "STOPPING=1",
  /// "WATCHDOG=1", "STATUS=..."); empty when not under systemd.
  std::function<void(const std::string&)> notify;
  /// Whether systemd asks for watchdog pings, and how often to send them.
  Duration watchdog_interval{0};
};

/// Runs until SIGTERM or SIGINT. Returns the process exit code: 0 after a
/// clean stop, 2 when the config or the journal cannot be used at start.
int run_watch(const WatchOptions& options, Progress& log);

}  // namespace dg
