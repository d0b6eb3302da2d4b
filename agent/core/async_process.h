#pragma once
/// Child processes on the watcher's event loop through Boost.Process v2's
/// asynchronous API: same CommandSpec and CommandResult as the blocking
/// run_command (process.h) — argv only, never a shell; an explicit
/// environment; a new process group set up in the launcher's exec-setup hook;
/// at the deadline SIGTERM to the group, SIGKILL after kill_grace; output
/// bounded per stream. No thread per child: the exit is watched on a pidfd,
/// the output on two pipes, both by the loop (no SIGCHLD handler, no
/// waitpid(-1): other children of the agent are left alone, and something
/// else reaping ours makes its result an Error).
///
/// Threads: call start_command() and terminate() on the loop's thread (or
/// before the loop runs), and run the loop on one thread. The launcher
/// forks with the loop's fork hooks (io_context::notify_fork), which Asio
/// allows only while no other thread is inside that io_context.
#include <functional>
#include <memory>

#include "agent/core/process.h"

namespace boost::asio {
class io_context;
}

namespace dg {

/// A started command. Dropping the handle does not stop the command.
class CommandHandle {
 public:
  virtual ~CommandHandle() = default;
  /// Starts the SIGTERM → kill_grace → SIGKILL sequence for the group now
  /// (e.g. on shutdown); the completion still runs, with timed_out unset and
  /// the signal that ended it (killed_after_grace if SIGTERM was not
  /// enough). No-op once the command ended or is already being stopped.
  virtual void terminate() = 0;
  /// The process group id (the child's pid), 0 if it never started.
  virtual int pgid() const = 0;
};

using CommandDone = std::function<void(Result<CommandResult>)>;

/// Starts the command; `done` runs exactly once on the loop's thread, never
/// from inside start_command(). An Error result when it could not be started.
std::shared_ptr<CommandHandle> start_command(boost::asio::io_context& loop, const CommandSpec& spec, CommandDone done);

}  // namespace dg
