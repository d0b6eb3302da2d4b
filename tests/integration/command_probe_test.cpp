// Command probe and run_command with real child processes: exit codes,
// output capture, env/cwd, start failures, and the process-group kill on timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "agent/core/clock.h"
#include "agent/core/process.h"
#include "probes/command_probe.h"
#include "probes/probe.h"
#include "tests/integration/integration_helpers.h"
#include "tests/integration/process_helpers.h"

namespace dg::test {
namespace {

using namespace std::chrono_literals;

ProbeSpec command_spec(std::vector<std::string> argv, Duration timeout = Duration{5000}) {
  CommandProbeSpec cmd;
  cmd.argv = std::move(argv);
  return ProbeSpec{.name = "cmd-check", .type = "command", .timeout = timeout, .kind = std::move(cmd)};
}

Observation run_probe(const ProbeSpec& spec) {
  SystemClock clock;
  auto probe = make_probe(spec);
  if (!probe) return Observation{.detail = "no probe"};
  return probe->run(clock);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(CommandProbe, ExitZeroWithExpectedStdoutPasses) {
  auto spec = command_spec({"sh", "-c", "echo migrations: 42 applied; echo all good"});
  spec.kind.edit<CommandProbeSpec>()->stdout_contains = {"42 applied", "all good"};
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
  EXPECT_EQ(obs.signal, "cmd-check");
  EXPECT_TRUE(contains(obs.detail, "exit 0")) << obs.detail;
}

TEST(CommandProbe, MissingStdoutNeedleFails) {
  auto spec = command_spec({"sh", "-c", "echo partial output"});
  spec.kind.edit<CommandProbeSpec>()->stdout_contains = {"all good"};
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "stdout does not contain \"all good\"")) << obs.detail;
  EXPECT_TRUE(contains(obs.excerpt, "partial output")) << obs.excerpt;
}

TEST(CommandProbe, NonZeroExitFailsWithCodeAndStderrExcerpt) {
  Observation obs = run_probe(command_spec({"sh", "-c", "echo 'connection refused: db:5432' >&2; exit 3"}));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "exit code 3 (expected 0)")) << obs.detail;
  EXPECT_TRUE(contains(obs.excerpt, "stderr")) << obs.excerpt;
  EXPECT_TRUE(contains(obs.excerpt, "connection refused: db:5432")) << obs.excerpt;
}

TEST(CommandProbe, StderrExcerptIsTheBoundedTail) {
  // Only the end of a long stderr is kept: that is where the reason usually is.
  Observation obs = run_probe(
      command_spec({"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo noise $i >&2; i=$((i+1)); done; "
                                "echo 'FINAL REASON' >&2; exit 1"}));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.excerpt, "FINAL REASON")) << obs.excerpt;
  EXPECT_LE(obs.excerpt.size(), 400u);
}

TEST(CommandProbe, ExpectedNonZeroExitPasses) {
  auto spec = command_spec({"sh", "-c", "exit 3"});
  spec.kind.edit<CommandProbeSpec>()->expect_exit = 3;
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail;
}

TEST(CommandProbe, KilledBySignalFails) {
  Observation obs = run_probe(command_spec({"sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(obs.outcome, Outcome::Failed) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "signal 15")) << obs.detail;
}

TEST(CommandProbe, ProgramThatDoesNotExistIsError) {
  Observation obs = run_probe(command_spec({"/nonexistent/dg-no-such-program", "--check"}));
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "/nonexistent/dg-no-such-program")) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "No such file")) << obs.detail;
}

TEST(CommandProbe, ProgramNotOnPathIsError) {
  Observation obs = run_probe(command_spec({"dg-no-such-program-on-path"}));
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "dg-no-such-program-on-path")) << obs.detail;
}

TEST(CommandProbe, BadWorkingDirectoryIsError) {
  auto spec = command_spec({"true"});
  spec.kind.edit<CommandProbeSpec>()->cwd = "/nonexistent/dg-no-such-dir";
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "/nonexistent/dg-no-such-dir")) << obs.detail;
}

TEST(CommandProbe, TimeoutIsErrorAndKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pidfile = dir.file("grandchild.pid");
  auto spec = command_spec({"sh", "-c", "sleep 60 & echo $! > " + pidfile + "; wait"}, Duration{500});
  auto started = std::chrono::steady_clock::now();
  Observation obs = run_probe(spec);
  double took = seconds_since(started);
  EXPECT_EQ(obs.outcome, Outcome::Error) << obs.detail;
  EXPECT_TRUE(contains(obs.detail, "timeout")) << obs.detail;
  EXPECT_GE(took, 0.45);
  EXPECT_LT(took, 30.0) << "ended by the 500 ms timeout, not by the 60 s sleep";

  pid_t grandchild = read_pid(read_text(pidfile));
  ASSERT_GT(grandchild, 1) << "the shell did not write the background pid to " << pidfile;
  EXPECT_TRUE(wait_dead(grandchild, 1000ms)) << "grandchild " << grandchild << " (sleep 60) survived the timeout kill";
  if (!process_dead(grandchild)) ::kill(grandchild, SIGKILL);  // do not leak it past the test
}

TEST(CommandProbe, LeaderExitLeavingBackgroundJobReturnsPromptlyAndKillsIt) {
  // The background job inherits stdout; the run must not wait for it to close.
  CommandSpec spec{.argv = {"sh", "-c", "sleep 60 & echo $!"}, .timeout = Duration{60'000}};
  auto started = std::chrono::steady_clock::now();
  auto r = run_command(spec);
  double took = seconds_since(started);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_LT(took, 30.0) << "waited for the background job (or the timeout), not for the leader";
  pid_t bg = read_pid(r->out);
  ASSERT_GT(bg, 1) << r->out;
  EXPECT_TRUE(wait_dead(bg, 1000ms)) << "background job " << bg << " left running";
  if (!process_dead(bg)) ::kill(bg, SIGKILL);
}

TEST(CommandProbe, EnvAndCwdAreHonoured) {
  TempDir dir;
  auto spec = command_spec({"sh", "-c", "echo \"FOO=$FOO\"; pwd"});
  auto& cmd = *spec.kind.edit<CommandProbeSpec>();
  cmd.env = {{"FOO", "bar baz"}};
  cmd.cwd = dir.path();
  std::string real_dir = std::filesystem::canonical(dir.path()).string();
  cmd.stdout_contains = {"FOO=bar baz", real_dir};
  Observation obs = run_probe(spec);
  EXPECT_EQ(obs.outcome, Outcome::Passed) << obs.detail << " / " << obs.excerpt;

  // Same through run_command, checking the exact output.
  auto r = run_command(CommandSpec{.argv = cmd.argv, .env = cmd.env, .cwd = cmd.cwd});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "FOO=bar baz\n" + real_dir + "\n");
}

TEST(RunCommand, ChildGetsAnExplicitEnvironmentNotTheAgents) {
  // The agent's environment holds resolved secrets; a child sees only the
  // defaults, the allow-list and its own env.
  ::setenv("DG_ITEST_SECRET_TOKEN", "agent-only-secret", 1);
  ::setenv("DG_ITEST_OVERRIDDEN", "old", 1);
  ::setenv("LC_DG_ITEST", "lc-passes", 1);
  auto r = run_command(CommandSpec{
      .argv = {"sh", "-c", "echo \"$DG_ITEST_SECRET_TOKEN|$DG_ITEST_OVERRIDDEN|$DG_ITEST_NEW|$LC_DG_ITEST|${PATH:+path}\""},
      .env = {{"DG_ITEST_OVERRIDDEN", "new"}, {"DG_ITEST_NEW", "added"}}});
  ::unsetenv("DG_ITEST_SECRET_TOKEN");
  ::unsetenv("DG_ITEST_OVERRIDDEN");
  ::unsetenv("LC_DG_ITEST");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "|new|added|lc-passes|path\n");
}

TEST(RunCommand, AllowListedAgentVariablesAreVisible) {
  ::setenv("DG_ITEST_KUBECONFIG", "/etc/kube/config", 1);
  ::setenv("DG_ITEST_AWS_REGION", "eu-west-1", 1);
  ::setenv("DG_ITEST_NOT_LISTED", "hidden", 1);
  auto r = run_command(CommandSpec{.argv = {"sh", "-c", "echo \"$DG_ITEST_KUBECONFIG|$DG_ITEST_AWS_REGION|$DG_ITEST_NOT_LISTED\""},
                                   .pass_env = {"DG_ITEST_KUBECONFIG", "DG_ITEST_AWS_*"}});
  ::unsetenv("DG_ITEST_KUBECONFIG");
  ::unsetenv("DG_ITEST_AWS_REGION");
  ::unsetenv("DG_ITEST_NOT_LISTED");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "/etc/kube/config|eu-west-1|\n");
}

TEST(CommandProbe, SecretOfTheAgentIsNotVisibleToTheProbe) {
  ::setenv("DG_ITEST_DB_PASSWORD", "s3cr3t-of-the-agent", 1);
  auto spec = command_spec({"sh", "-c", "env"});
  spec.kind.edit<CommandProbeSpec>()->stdout_contains = {"s3cr3t-of-the-agent"};
  Observation obs = run_probe(spec);
  ::unsetenv("DG_ITEST_DB_PASSWORD");
  EXPECT_EQ(obs.outcome, Outcome::Failed) << "the child saw the agent's secret: " << obs.excerpt;
}

TEST(RunCommand, TimeoutSendsSigtermFirstThenSigkillAfterTheGrace) {
  // The child traps SIGTERM and carries on: it must see SIGTERM, and still
  // be killed once the grace is over.
  auto started = std::chrono::steady_clock::now();
  auto r = run_command(CommandSpec{
      .argv = {"sh", "-c", "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done"},
      .timeout = Duration{300},
      .kill_grace = Duration{700}});
  double took = seconds_since(started);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_TRUE(r->killed_after_grace);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_NE(r->out.find("got-term"), std::string::npos) << "SIGTERM did not come first: " << r->out;
  EXPECT_GE(r->elapsed.count(), 300 + 700 - 20) << "killed before the grace was over";
  EXPECT_LT(took, 10.0);
}

TEST(RunCommand, ChildEndingOnSigtermIsNotKilled) {
  auto r = run_command(CommandSpec{
      .argv = {"sh", "-c", "trap 'echo cleaned-up; exit 0' TERM; while :; do sleep 0.05; done"},
      .timeout = Duration{300},
      .kill_grace = Duration{20'000}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->killed_after_grace);
  EXPECT_NE(r->out.find("cleaned-up"), std::string::npos) << r->out;
  EXPECT_LT(r->elapsed.count(), 15'000) << "waited out the grace although the child had ended";
}

TEST(RunCommand, ArgvIsNotPassedThroughAShell) {
  auto r = run_command(CommandSpec{.argv = {"printf", "%s|", "a b", "$HOME", "*", "; echo injected"}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "a b|$HOME|*|; echo injected|");
}

TEST(RunCommand, OutputBeyondLimitIsTruncatedAndTheRestDrained) {
  CommandSpec spec{.argv = {"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' 'a'; echo tail >&2"},
                   .timeout = Duration{10'000},
                   .output_limit = 1000};
  auto r = run_command(spec);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit_code, 0) << "the writer must not be killed by SIGPIPE: the rest is read and dropped";
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->out, std::string(1000, 'a'));
  EXPECT_TRUE(r->out_truncated);
  EXPECT_EQ(r->err, "tail\n");
  EXPECT_FALSE(r->err_truncated);
}

TEST(RunCommand, OutputWithinLimitIsNotTruncated) {
  auto r = run_command(CommandSpec{.argv = {"sh", "-c", "printf 0123456789"}, .output_limit = 10});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->out, "0123456789");
  EXPECT_FALSE(r->out_truncated);
}

TEST(RunCommand, TimeoutResult) {
  auto started = std::chrono::steady_clock::now();
  auto r = run_command(CommandSpec{.argv = {"sh", "-c", "echo started; exec sleep 60"}, .timeout = Duration{300}});
  double took = seconds_since(started);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->out, "started\n");
  EXPECT_GE(r->elapsed.count(), 290);
  EXPECT_LT(took, 30.0) << "ended by the timeout, not by the 60 s sleep";
}

TEST(RunCommand, EmptyArgvIsError) {
  auto r = run_command(CommandSpec{});
  EXPECT_FALSE(r.has_value());
}

TEST(RunCommand, StdinIsNotInherited) {
  // A command reading stdin must see EOF at once, not block on the agent's stdin.
  auto r = run_command(CommandSpec{.argv = {"sh", "-c", "cat; echo eof"}, .timeout = Duration{3000}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out, "eof\n");
}

}  // namespace
}  // namespace dg::test
