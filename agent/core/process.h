#pragma once
/// Runs a command from an argv (never through a shell) in its own process
/// group, with a deadline that kills the whole group, grandchildren included.
/// Blocking; safe to call from several threads at once.
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

struct CommandSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  ///< added to the inherited environment
  std::string cwd;                                       ///< empty: inherit
  Duration timeout{30'000};
  size_t output_limit = 64 * 1024;  ///< per stream; the rest is read and dropped
};

struct CommandResult {
  int exit_code = -1;  ///< -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
  Duration elapsed{0};
};

/// Error only when the command could not be started (empty argv, exec failed,
/// bad cwd); a non-zero exit or a timeout is a CommandResult.
Result<CommandResult> run_command(const CommandSpec& spec);

}  // namespace dg
