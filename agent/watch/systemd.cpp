#include "agent/watch/systemd.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>

namespace dg {

SystemdNotify systemd_notify() {
  SystemdNotify out;
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return out;  // not started by systemd with Type=notify
  void* lib = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    out.problem = std::string("cannot load libsystemd.so.0: ") + ::dlerror();
    return out;
  }
  using Notify = int (*)(int, const char*);
  using Watchdog = int (*)(int, uint64_t*);
  auto notify = reinterpret_cast<Notify>(::dlsym(lib, "sd_notify"));
  auto watchdog = reinterpret_cast<Watchdog>(::dlsym(lib, "sd_watchdog_enabled"));
  if (!notify || !watchdog) {
    out.problem = "libsystemd.so.0 has no sd_notify";
    return out;
  }
  out.notify = [notify](const std::string& state) { notify(0, state.c_str()); };
  uint64_t usec = 0;
  if (watchdog(0, &usec) > 0 && usec > 0) out.watchdog_interval = Duration{static_cast<long long>(usec / 2000)};
  return out;
}

}  // namespace dg
