#pragma once
/// Runs a command from an argv (never through a shell) in its own process
/// group, with a deadline after which the whole group, grandchildren
/// included, gets SIGTERM and, after a grace period, SIGKILL. The child gets
/// an explicit environment, never the agent's whole one (it holds secrets).
/// run_command is blocking and safe to call from several threads at once:
/// it is start_command (async_process.h) on an io_context of its own.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

struct CommandSpec {
  std::vector<std::string> argv;
  /// The child's environment is: the agent's PATH, HOME, LANG, LC_*, TZ and
  /// USER (PATH defaults to /usr/local/bin:/usr/bin:/bin), the agent's
  /// variables named in `pass_env` ("NAME", or "PREFIX*"), then `env`.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;
  std::string cwd;  ///< empty: inherit
  Duration timeout{30'000};
  Duration kill_grace{3000};  ///< between SIGTERM and SIGKILL on timeout
  size_t output_limit = 64 * 1024;  ///< per stream; the rest is read and dropped
  /// Descriptors the child gets at fixed numbers, as {child fd, agent fd}
  /// (e.g. Chromium's DevTools pipe on 3 and 4); child fds must be 3 … 7
  /// and distinct. Every other descriptor but stdio is closed at exec.
  std::vector<std::pair<int, int>> inherit_fds;
  /// Streaming (start_command only): stdout handed over chunk by chunk as it
  /// is read, on the loop's thread, instead of kept in `out` (a long-running
  /// command such as `kubectl logs -f`). stderr is kept as usual.
  std::function<void(std::string_view)> on_stdout;
};

struct CommandResult {
  int exit_code = -1;  ///< -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  bool killed_after_grace = false;  ///< on timeout or terminate(): SIGTERM was not enough
  std::string out;
  std::string err;
  bool out_truncated = false;
  bool err_truncated = false;
  Duration elapsed{0};
};

/// Error only when the command could not be started (empty argv, program not
/// found or not executable, exec failed, bad cwd); a non-zero exit or a
/// timeout is a CommandResult. argv[0] is looked up as execvpe does: as given
/// if it has a slash, else in the agent's PATH (not `env`'s).
Result<CommandResult> run_command(const CommandSpec& spec);

/// "timeout after 500 ms; process group sent SIGTERM, then SIGKILL after 3s grace"
std::string timeout_detail(Duration timeout, Duration grace, const CommandResult& r);

/// The environment run_command gives the child, as NAME=value strings.
std::vector<std::string> child_environment(const CommandSpec& spec);
/// Whether a name is a default one (PATH, HOME, LANG, LC_*, TZ, USER) or
/// matches an allow-list entry ("NAME" or "PREFIX*").
bool env_name_allowed(std::string_view name, const std::vector<std::string>& allow);

}  // namespace dg
