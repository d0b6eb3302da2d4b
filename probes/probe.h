#pragma once
/// Probe: one synthetic check. run() is blocking, never throws, and returns an
/// Observation whose outcome separates "target unhealthy" (Failed) from "could
/// not tell" (Error). Distinct probes may run concurrently on different threads.
/// start() is the same run on the watcher's event loop, without blocking it.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/observation.h"
#include "agent/core/registry.h"
#include "probes/probe_spec.h"

namespace dg {

class Probe {
 public:
  virtual ~Probe() = default;
  virtual Observation run(const Clock& clock) = 0;
  /// One run on the loop: `done` is called once, on the loop's thread, never
  /// from inside start(). The default runs run() on a thread of its own
  /// (offload); built-in probes override it with a real asynchronous form.
  virtual void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done);
};

struct ProbeRegistry : Registry<ProbeSpec, Probe> {
  ProbeRegistry() : Registry("probe") {}
};

void register_builtin_probes(ProbeRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const ProbeRegistry& builtin_probes();

}  // namespace dg
