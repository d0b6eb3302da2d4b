#pragma once
/// systemd's notification protocol through libsystemd's sd_notify (opened
/// with dlopen when the watcher runs under systemd, so the other commands
/// do not load it): READY=1 once watching, RELOADING=1 / READY=1 around a
/// reload, STOPPING=1, and WATCHDOG=1 pings when the unit asks for them.
#include <functional>
#include <string>

#include "agent/core/clock.h"

namespace dg {

struct SystemdNotify {
  std::function<void(const std::string&)> notify;  ///< empty when not under systemd
  Duration watchdog_interval{0};                   ///< half of WatchdogSec; 0 when off
  std::string problem;                             ///< why notifications are off under systemd
};

SystemdNotify systemd_notify();

}  // namespace dg
