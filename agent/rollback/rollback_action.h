#pragma once
/// RollbackAction: returns the service to a known-good release. run() is
/// blocking and reports what happened (exit status, bounded output) as a value;
/// an Error means the action could not be started at all.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/core/registry.h"

namespace dg {

struct CommandRollbackSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;  ///< agent.child_env: agent variables the child may see
  std::string cwd;
  Duration kill_grace{3000};          ///< SIGTERM to SIGKILL on timeout
};

struct RollbackSpec {
  std::string name;
  std::string type;  ///< "command"
  Duration timeout{120'000};
  std::variant<CommandRollbackSpec> kind;
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

}  // namespace dg
