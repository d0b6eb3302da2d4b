#pragma once
/// RollbackAction: returns the service to a known-good release. run() is
/// blocking and reports what happened (exit status, bounded output) as a value;
/// an Error means the action could not be started at all.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"
#include "agent/rollback/rollback_check.h"

namespace dg {

struct RollbackSpec {
  std::string name;
  std::string type;  ///< a registered rollback type (agent/rollback/rollback_action.cpp)
  Duration timeout{120'000};
  Settings kind;  ///< the type's own settings, decoded in its home
  /// The read-back check run after the action succeeded (any type: the
  /// `check` sub-table, decoded by the loader).
  std::optional<RollbackCheckSpec> check;
};

struct RollbackOutcome {
  bool ok = false;
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  ///< bounded, redacted: stdout + stderr, or an HTTP answer; the check's line last
  Duration elapsed{0};  ///< the action's own time (the check's is in check->elapsed)
  std::string detail;
  /// The read-back check, when configured and the action succeeded; `ok`
  /// then also needs the check to pass.
  std::optional<RollbackCheckResult> check;
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
  /// The type's action, wrapped with the spec's check when it has one (hides
  /// Registry::make, so every caller of a RollbackRegistry gets the check).
  Result<std::unique_ptr<RollbackAction>> make(const RollbackSpec& spec) const;
};

void register_builtin_rollbacks(RollbackRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const RollbackRegistry& builtin_rollbacks();

}  // namespace dg
