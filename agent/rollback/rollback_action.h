#pragma once
/// RollbackAction: returns the service to a known-good release. run() is
/// blocking and reports what happened (exit status, bounded output) as a value;
/// an Error means the action could not be started at all.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"

namespace dg {

struct RollbackSpec {
  std::string name;
  std::string type;  ///< a registered rollback type (agent/rollback/rollback_action.cpp)
  Duration timeout{120'000};
  Settings kind;  ///< the type's own settings, decoded in its home
};

struct RollbackOutcome {
  bool ok = false;
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  ///< bounded stdout + stderr excerpt
  Duration elapsed{0};
  std::string detail;
};

class RollbackAction {
 public:
  virtual ~RollbackAction() = default;
  virtual Result<RollbackOutcome> run() = 0;
  /// The same action on the loop: `done` once, on the loop's thread, never
  /// from inside start(). Default: run() offloaded to a thread.
  virtual void start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done);
};

struct RollbackRegistry : Registry<RollbackSpec, RollbackAction> {
  RollbackRegistry() : Registry("rollback") {}
};

void register_builtin_rollbacks(RollbackRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const RollbackRegistry& builtin_rollbacks();

}  // namespace dg
