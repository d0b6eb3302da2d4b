#pragma once
/// command rollback: runs an argv (e.g. `helm rollback`), with a timeout and
/// bounded, redacted output.
#include <string>
#include <utility>
#include <vector>

#include "agent/rollback/rollback_action.h"

namespace dg {

struct CommandRollbackSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;  ///< agent.child_env: agent variables the child may see
  std::string cwd;
  Duration kill_grace{3000};          ///< SIGTERM to SIGKILL on timeout
};

/// Registers the type with its config decoder.
void register_command_rollback(RollbackRegistry& registry);

}  // namespace dg
