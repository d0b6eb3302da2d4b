// start_command with real child processes on one Asio loop: many children
// at once without threads, the group kill on timeout and on terminate(), the
// output bound, the explicit environment, start failures, leftovers of a
// leader that exited, and children of others left alone. Also the command
// probe's and rollback's asynchronous forms against their blocking run().
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/rollback/command_rollback.h"
#include "agent/core/async_http.h"
#include "agent/core/async_io.h"
#include "agent/core/async_process.h"
#include "agent/core/clock.h"
#include "agent/core/process.h"
#include "agent/rollback/rollback_action.h"
#include "probes/command_probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/integration/process_helpers.h"

extern char** environ;

namespace dg::test {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

/// Runs one command on a fresh loop; the result, and whether `done` came
/// from inside start_command (it must not).
struct OneRun {
  std::optional<Result<CommandResult>> result;
  bool done_inside_start = false;
  int pgid = -1;
};
OneRun run_on_loop(const CommandSpec& spec) {
  asio::io_context loop;
  OneRun out;
  bool starting = true;
  auto handle = start_command(loop, spec, [&](Result<CommandResult> r) {
    out.done_inside_start = starting;
    out.result = std::move(r);
  });
  starting = false;
  out.pgid = handle->pgid();
  loop.run();
  return out;
}

TEST(StartCommand, FiftyChildrenOnOneLoopThreadFinishInAboutOneBatch) {
  asio::io_context loop;
  int threads_before = thread_count();
  int max_threads = 0, done = 0, ok = 0;
  auto started = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<CommandHandle>> handles;
  for (int i = 0; i < 50; ++i)
    handles.push_back(start_command(loop, CommandSpec{.argv = {"sleep", "0.3"}, .timeout = Duration{20'000}},
                                    [&](Result<CommandResult> r) {
                                      ++done;
                                      if (r && r->exit_code == 0 && !r->timed_out) ++ok;
                                    }));
  // Sampled while they sleep (all 50 are running at 100 ms).
  asio::steady_timer sample(loop);
  std::function<void()> tick = [&] {
    max_threads = std::max(max_threads, thread_count());
    if (done < 50) {
      sample.expires_after(50ms);
      sample.async_wait([&](auto) { tick(); });
    }
  };
  sample.expires_after(100ms);
  sample.async_wait([&](auto) { tick(); });
  loop.run();
  double took = seconds_since(started);
  EXPECT_EQ(done, 50);
  EXPECT_EQ(ok, 50);
  EXPECT_GE(took, 0.3);
  EXPECT_LT(took, 3.0) << "50 × sleep 0.3 should overlap, not queue";
  EXPECT_GT(max_threads, 0) << "never sampled";
  EXPECT_LE(max_threads, threads_before) << "a thread per child (or a helper thread) was started";
}

TEST(StartCommand, TimeoutKillsTheGroupIncludingAGrandchild) {
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "sleep 100 & echo $!; sleep 100"},
                                     .timeout = Duration{300},
                                     .kill_grace = Duration{2000}});
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  const CommandResult& r = **run.result;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(run.done_inside_start);
  pid_t grandchild = read_pid(r.out);
  ASSERT_GT(grandchild, 1) << r.out;
  EXPECT_TRUE(wait_dead(grandchild, 1000ms)) << "grandchild " << grandchild << " survived the timeout";
  if (!process_dead(grandchild)) ::kill(grandchild, SIGKILL);
}

TEST(StartCommand, TenMegabytesOfOutputAreBoundedAndDrained) {
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "head -c 10485760 /dev/zero | tr '\\0' x; echo end >&2"},
                                     .timeout = Duration{30'000},
                                     .output_limit = 4096});
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  const CommandResult& r = **run.result;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << "the writer must not get SIGPIPE: the rest is read and dropped";
  EXPECT_EQ(r.out, std::string(4096, 'x'));
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.err, "end\n");
  EXPECT_FALSE(r.err_truncated);
}

TEST(StartCommand, AgentVariableNotInPassEnvIsInvisible) {
  ::setenv("DG_ATEST_SECRET", "agent-only", 1);
  ::setenv("DG_ATEST_SHARED", "for-the-child", 1);
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "echo \"[$DG_ATEST_SECRET][$DG_ATEST_SHARED][$OWN]\""},
                                     .env = {{"OWN", "own"}},
                                     .pass_env = {"DG_ATEST_SHARED"}});
  ::unsetenv("DG_ATEST_SECRET");
  ::unsetenv("DG_ATEST_SHARED");
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_EQ((*run.result)->out, "[][for-the-child][own]\n");
}

TEST(StartCommand, TerminateEndsARunningChild) {
  asio::io_context loop;
  std::optional<Result<CommandResult>> result;
  auto handle = start_command(loop, CommandSpec{.argv = {"sleep", "100"}, .timeout = Duration{60'000}},
                              [&](Result<CommandResult> r) { result = std::move(r); });
  ASSERT_GT(handle->pgid(), 1);
  asio::steady_timer later(loop);
  later.expires_after(100ms);
  later.async_wait([&](auto) { handle->terminate(); });
  auto started = std::chrono::steady_clock::now();
  loop.run();
  ASSERT_TRUE(result && result->has_value()) << (result ? result->error().message : "no result");
  EXPECT_LT(seconds_since(started), 10.0);
  EXPECT_FALSE((*result)->timed_out) << "terminate() is not a timeout";
  EXPECT_FALSE((*result)->killed_after_grace);
  EXPECT_EQ((*result)->signal, SIGTERM);
}

TEST(StartCommand, TerminateEscalatesToSigkillAfterTheGrace) {
  asio::io_context loop;
  std::optional<Result<CommandResult>> result;
  auto handle = start_command(
      loop,
      CommandSpec{.argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"},
                  .timeout = Duration{60'000},
                  .kill_grace = Duration{300}},
      [&](Result<CommandResult> r) { result = std::move(r); });
  asio::steady_timer later(loop);
  later.expires_after(200ms);
  later.async_wait([&](auto) { handle->terminate(); });
  loop.run();
  ASSERT_TRUE(result && result->has_value()) << (result ? result->error().message : "no result");
  EXPECT_FALSE((*result)->timed_out);
  EXPECT_TRUE((*result)->killed_after_grace);
  EXPECT_EQ((*result)->signal, SIGKILL);
  EXPECT_GE((*result)->elapsed.count(), 200 + 300 - 20);
}

TEST(StartCommand, MissingExecutableIsAnErrorDeliveredLater) {
  for (std::string program : {"dg-no-such-program-on-path", "/nonexistent/dg-no-such-program"}) {
    auto run = run_on_loop(CommandSpec{.argv = {program}});
    ASSERT_TRUE(run.result.has_value());
    ASSERT_FALSE(run.result->has_value()) << program;
    EXPECT_NE(run.result->error().message.find(program), std::string::npos) << run.result->error().message;
    EXPECT_NE(run.result->error().message.find("No such file"), std::string::npos) << run.result->error().message;
    EXPECT_FALSE(run.done_inside_start);
    EXPECT_EQ(run.pgid, 0);
  }
}

TEST(StartCommand, NonExecutableFileIsAnError) {
  TempDir dir;
  std::string path = dir.file("not-executable");
  write_text(path, "echo hi\n");
  ::chmod(path.c_str(), 0644);
  auto run = run_on_loop(CommandSpec{.argv = {path}});
  ASSERT_TRUE(run.result && !run.result->has_value());
  EXPECT_NE(run.result->error().message.find("Permission denied"), std::string::npos) << run.result->error().message;
}

TEST(StartCommand, BadWorkingDirectoryIsAnError) {
  TempDir dir;
  std::string file = dir.file("a-file");
  write_text(file, "");
  for (std::string cwd : {std::string("/nonexistent/dg-no-such-dir"), file}) {
    auto run = run_on_loop(CommandSpec{.argv = {"true"}, .cwd = cwd});
    ASSERT_TRUE(run.result && !run.result->has_value()) << cwd;
    EXPECT_NE(run.result->error().message.find("working directory " + cwd), std::string::npos)
        << run.result->error().message;
    EXPECT_FALSE(run.done_inside_start);
  }
}

TEST(StartCommand, LeaderExitLeavingABackgroundChildOnStdoutCompletesAndKillsIt) {
  auto started = std::chrono::steady_clock::now();
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "sleep 100 & echo $!"}, .timeout = Duration{60'000}});
  double took = seconds_since(started);
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_FALSE((*run.result)->timed_out);
  EXPECT_EQ((*run.result)->exit_code, 0);
  EXPECT_LT(took, 5.0) << "waited for the background child's pipe, not for the leader";
  pid_t bg = read_pid((*run.result)->out);
  ASSERT_GT(bg, 1) << (*run.result)->out;
  EXPECT_TRUE(wait_dead(bg, 1000ms)) << "background child " << bg << " left running";
  if (!process_dead(bg)) ::kill(bg, SIGKILL);
}

TEST(StartCommand, PipeHeldOutsideTheGroupDoesNotHoldTheCompletion) {
  // A background child that left the group (setsid) is out of reach of the
  // group kill and keeps stdout open: the result comes without its EOF.
  auto started = std::chrono::steady_clock::now();
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "setsid sleep 30 & echo $!"}, .timeout = Duration{60'000}});
  double took = seconds_since(started);
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_EQ((*run.result)->exit_code, 0);
  EXPECT_LT(took, 5.0) << "waited for an EOF that the escaped child holds off";
  pid_t escaped = read_pid((*run.result)->out);
  ASSERT_GT(escaped, 1) << (*run.result)->out;
  ::kill(escaped, SIGKILL);
}

TEST(StartCommand, ArgvZeroIsWhatTheSpecSays) {
  // The program is found in PATH, but the child's argv[0] stays "sh", as
  // with execvpe (multi-call binaries and usage messages depend on it).
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"}});
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_TRUE((*run.result)->out.starts_with("sh -c ")) << (*run.result)->out;
}

TEST(StartCommand, ProgramIsLookedUpInTheAgentsPath) {
  // As execvpe: the agent's PATH finds the program; the child's own PATH
  // (from env) is what the program sees, not where it is looked up.
  TempDir dir;
  std::string tool = dir.file("dg-only-here");
  write_text(tool, "#!/bin/sh\necho found-it\n");
  ::chmod(tool.c_str(), 0755);
  std::string saved = ::getenv("PATH") ? ::getenv("PATH") : "";
  ::setenv("PATH", (dir.path() + ":" + saved).c_str(), 1);
  auto found = run_on_loop(CommandSpec{.argv = {"dg-only-here"}});
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_TRUE(found.result && found.result->has_value()) << (found.result ? found.result->error().message : "");
  EXPECT_EQ((*found.result)->out, "found-it\n");

  auto not_found = run_on_loop(CommandSpec{.argv = {"dg-only-here"}, .env = {{"PATH", dir.path()}}});
  ASSERT_TRUE(not_found.result.has_value());
  EXPECT_FALSE(not_found.result->has_value());
}

TEST(StartCommand, ScriptWithoutInterpreterLineRunsThroughTheShell) {
  // execvpe's fallback for ENOEXEC.
  TempDir dir;
  std::string script = dir.file("no-shebang");
  write_text(script, "echo \"plain script $1\"\n");
  ::chmod(script.c_str(), 0755);
  auto run = run_on_loop(CommandSpec{.argv = {script, "arg"}});
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_EQ((*run.result)->out, "plain script arg\n");
}

TEST(StartCommand, NoDescriptorOfTheAgentReachesTheChild) {
  // A pipe of the agent's without close-on-exec, below the launcher's own
  // error pipe (Boost 1.81's launcher does not close those).
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string probe;
  for (int fd : fds) probe += "test -e /proc/$$/fd/" + std::to_string(fd) + " && echo leaked-" + std::to_string(fd) + "; ";
  auto run = run_on_loop(CommandSpec{.argv = {"sh", "-c", probe + "echo checked"}});
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(run.result && run.result->has_value()) << (run.result ? run.result->error().message : "no result");
  EXPECT_EQ((*run.result)->out, "checked\n");
}

TEST(StartCommand, DroppingTheHandleDoesNotStopTheCommand) {
  asio::io_context loop;
  std::optional<Result<CommandResult>> result;
  start_command(loop, CommandSpec{.argv = {"sh", "-c", "sleep 0.2; echo still-ran"}},
                [&](Result<CommandResult> r) { result = std::move(r); });
  loop.run();
  ASSERT_TRUE(result && result->has_value());
  EXPECT_EQ((*result)->out, "still-ran\n");
}

TEST(StartCommand, LoopDestroyedBeforeTheEndLeavesNothingRunning) {
  int pgid = 0;
  bool called = false;
  {
    asio::io_context loop;
    auto handle = start_command(loop, CommandSpec{.argv = {"sleep", "100"}}, [&](auto) { called = true; });
    pgid = handle->pgid();
    loop.run_for(50ms);
  }
  ASSERT_GT(pgid, 1);
  EXPECT_FALSE(called);
  EXPECT_TRUE(process_dead(pgid)) << "the child outlived its loop";
  EXPECT_EQ(::waitpid(pgid, nullptr, WNOHANG), -1) << "left unreaped";
}

TEST(StartCommand, ChildrenOfOthersAndASigchldSignalSetAreLeftAlone) {
  // Another part of the agent with its own child, waited for by pid, and a
  // SIGCHLD signal_set on the same loop (the watcher's stop signals go
  // through one too, and the launcher forks with the loop's fork hooks).
  asio::io_context loop;
  asio::signal_set sigchld(loop, SIGCHLD);
  int sigchld_seen = 0;
  bool all_done = false;
  std::function<void()> listen = [&] {
    sigchld.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      ++sigchld_seen;
      if (!all_done) listen();
    });
  };
  listen();
  pid_t foreign = 0;
  const char* argv[] = {"sh", "-c", "sleep 0.2; exit 7", nullptr};
  ASSERT_EQ(::posix_spawnp(&foreign, "sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);

  int ok = 0, done = 0;
  for (int i = 0; i < 5; ++i)
    start_command(loop, CommandSpec{.argv = {"sh", "-c", "echo " + std::to_string(i)}},
                  [&, i](Result<CommandResult> r) {
                    ++done;
                    if (r && r->exit_code == 0 && r->out == std::to_string(i) + "\n") ++ok;
                    if (done == 5) {
                      all_done = true;
                      sigchld.cancel();
                    }
                  });
  loop.run();
  EXPECT_EQ(ok, 5);
  EXPECT_GE(sigchld_seen, 1) << "the signal_set stopped working";
  int status = 0;
  ASSERT_EQ(::waitpid(foreign, &status, 0), foreign) << "someone else reaped the foreign child";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(RunCommand, ConcurrentCallersOnThreadsDoNotHoldEachOthersPipes) {
  // A long command on one thread must not keep a short one on another
  // waiting: neither inherits the other's pipes.
  std::atomic<int> quick_ok{0};
  std::atomic<double> slowest_quick{0};
  std::thread slow([] { (void)run_command(CommandSpec{.argv = {"sleep", "3"}}); });
  std::vector<std::thread> quick;
  for (int i = 0; i < 6; ++i)
    quick.emplace_back([&] {
      for (int j = 0; j < 5; ++j) {
        auto started = std::chrono::steady_clock::now();
        auto r = run_command(CommandSpec{.argv = {"sh", "-c", "echo hi"}});
        double took = seconds_since(started);
        if (took > slowest_quick.load()) slowest_quick.store(took);
        if (r && r->out == "hi\n" && r->exit_code == 0) ++quick_ok;
      }
    });
  for (auto& t : quick) t.join();
  slow.join();
  EXPECT_EQ(quick_ok.load(), 30);
  EXPECT_LT(slowest_quick.load(), 2.0) << "a short command waited for the long one";
}

// An AsyncHttp that is never used: the command forms touch only the loop.
struct NoHttp {
  alignas(AsyncHttp) unsigned char storage[sizeof(AsyncHttp)];
  AsyncHttp& get() { return *reinterpret_cast<AsyncHttp*>(storage); }
};

TEST(CommandProbeStart, SameObservationsAsRun) {
  std::vector<std::pair<std::vector<std::string>, Duration>> cases{
      {{"sh", "-c", "echo all good"}, Duration{5000}},
      {{"sh", "-c", "echo 'db down' >&2; exit 3"}, Duration{5000}},
      {{"dg-no-such-program-on-path"}, Duration{5000}},
      {{"sh", "-c", "echo started; exec sleep 60"}, Duration{300}},
  };
  SystemClock clock;
  for (const auto& [argv, timeout] : cases) {
    CommandProbeSpec cmd;
    cmd.argv = argv;
    cmd.kill_grace = Duration{500};
    cmd.stdout_contains = {"good"};
    ProbeSpec spec{.name = "cmd", .type = "command", .timeout = timeout, .kind = cmd};
    auto probe = make_probe(spec);
    ASSERT_TRUE(probe);
    Observation blocking = probe->run(clock);

    asio::io_context loop;
    NoHttp http;
    AsyncIo io{loop, http.get()};
    std::optional<Observation> async;
    probe->start(io, clock, [&](Observation o) { async = std::move(o); });
    EXPECT_FALSE(async.has_value()) << "done from inside start()";
    loop.run();
    ASSERT_TRUE(async.has_value());
    EXPECT_EQ(async->outcome, blocking.outcome) << argv.back();
    EXPECT_EQ(async->signal, blocking.signal);
    EXPECT_EQ(async->excerpt, blocking.excerpt) << argv.back();
    if (blocking.outcome != Outcome::Passed) {  // "exit 0 in N ms" differs by N
      EXPECT_EQ(async->detail, blocking.detail) << argv.back();
    }
  }
}

TEST(CommandRollbackStart, SameOutcomeAsRun) {
  RollbackRegistry registry;
  register_builtin_rollbacks(registry);
  std::vector<std::pair<std::vector<std::string>, Duration>> cases{
      {{"sh", "-c", "echo rolled back to 41"}, Duration{5000}},
      {{"sh", "-c", "echo 'cannot reach deployer' >&2; exit 2"}, Duration{5000}},
      {{"sh", "-c", "echo working; exec sleep 60"}, Duration{300}},
      {{"/nonexistent/dg-rollback"}, Duration{5000}},
  };
  for (const auto& [argv, timeout] : cases) {
    CommandRollbackSpec cmd;
    cmd.argv = argv;
    cmd.kill_grace = Duration{500};
    auto action = registry.make(RollbackSpec{.name = "rb", .type = "command", .timeout = timeout, .kind = cmd});
    ASSERT_TRUE(action) << action.error().message;
    auto blocking = (*action)->run();

    asio::io_context loop;
    NoHttp http;
    AsyncIo io{loop, http.get()};
    std::optional<Result<RollbackOutcome>> async;
    (*action)->start(io, [&](Result<RollbackOutcome> r) { async = std::move(r); });
    EXPECT_FALSE(async.has_value()) << "done from inside start()";
    loop.run();
    ASSERT_TRUE(async.has_value());
    ASSERT_EQ(async->has_value(), blocking.has_value()) << argv.back();
    if (!blocking) {
      EXPECT_EQ(async->error().message, blocking.error().message);
      continue;
    }
    EXPECT_EQ((*async)->ok, blocking->ok) << argv.back();
    EXPECT_EQ((*async)->exit_code, blocking->exit_code);
    EXPECT_EQ((*async)->timed_out, blocking->timed_out);
    EXPECT_EQ((*async)->output, blocking->output);
    EXPECT_EQ((*async)->detail, blocking->detail);
  }
}

}  // namespace
}  // namespace dg::test
