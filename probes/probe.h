#pragma once
/// Probe: one synthetic check. run() is blocking, never throws, and returns an
/// Observation whose outcome separates "target unhealthy" (Failed) from "could
/// not tell" (Error). Distinct probes may run concurrently on different threads.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
};

struct ProbeRegistry : Registry<ProbeSpec, Probe> {
  ProbeRegistry() : Registry("probe") {}
};

void register_builtin_probes(ProbeRegistry& registry);

}  // namespace dg
