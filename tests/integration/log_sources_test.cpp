// The log sources against real files, a real journal directory and a real
// child process: rotation by rename and by copytruncate, globs, bounded and
// sanitised lines; journal files written by systemd-journal-remote (no
// running journald) read with sd_journal_open_directory and followed while
// more are appended; a command's lines and its restart after an exit.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/core/clock.h"
#include "logs/log_source.h"
#include "tests/support/temp_dir.h"

namespace dg::logs {
namespace {

using namespace std::chrono_literals;

void append(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app | std::ios::binary) << text; }

std::unique_ptr<LogSource> source(LogSourceSpec spec, const Clock& clock) {
  LogSourceRegistry r;
  register_builtin_log_sources(r);
  auto s = r.make(spec, clock);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

std::vector<std::string> texts(LogSource& s, size_t want = 0, Duration wait = 0ms) {
  std::vector<std::string> out;
  auto until = std::chrono::steady_clock::now() + wait;
  do {
    std::vector<LogLine> lines;
    auto n = s.poll(lines, 1000);
    EXPECT_TRUE(n.has_value());
    for (auto& l : lines) out.push_back(l.text);
    if (out.size() >= want && (want > 0 || lines.empty())) break;
    if (lines.empty()) std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < until);
  return out;
}

LogSourceSpec file_spec(std::vector<std::string> paths) {
  LogSourceSpec s;
  s.name = "app";
  s.type = "file";
  s.kind = FileSourceSpec{.paths = std::move(paths)};
  return s;
}

TEST(FileSource, FollowsRenameRotationWithoutLosingOrRepeatingLines) {
  test::TempDir dir;
  SystemClock clock;
  std::string log = dir.file("app.log");
  append(log, "old 1\nold 2\n");
  auto s = source(file_spec({log}), clock);
  ASSERT_TRUE(s->open(clock.now() - 10min));
  std::vector<LogLine> first;
  ASSERT_TRUE(s->poll(first, 100));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].backlog) << "what was there at open is history";
  append(log, "live 1\n");
  EXPECT_EQ(texts(*s), (std::vector<std::string>{"live 1"}));
  // logrotate's default: rename, the writer finishes its line in the old
  // file, then a new file appears under the name.
  std::filesystem::rename(log, dir.file("app.log.1"));
  append(dir.file("app.log.1"), "late in old\n");
  std::vector<std::string> all = texts(*s);  // the old file's rest, while the name is missing
  append(log, "new 1\nnew 2\n");
  for (auto& t : texts(*s, 3 - all.size(), 2s)) all.push_back(t);
  EXPECT_EQ(all, (std::vector<std::string>{"late in old", "new 1", "new 2"}));
}

TEST(FileSource, FollowsCopytruncate) {
  test::TempDir dir;
  SystemClock clock;
  std::string log = dir.file("app.log");
  append(log, "a much longer first line before the copy\nanother one\n");
  auto s = source(file_spec({log}), clock);
  ASSERT_TRUE(s->open(clock.now()));
  EXPECT_EQ(texts(*s).size(), 2u);
  std::filesystem::copy_file(log, dir.file("app.log.1"));
  std::filesystem::resize_file(log, 0);
  append(log, "after\n");
  EXPECT_EQ(texts(*s, 1, 2s), (std::vector<std::string>{"after"}));
}

TEST(FileSource, GlobsBackfillBoundsAndSanitises) {
  test::TempDir dir;
  SystemClock clock;
  std::string big(100, 'x');
  for (int i = 0; i < 100; ++i) append(dir.file("a.log"), "line " + std::to_string(i) + " " + big + "\n");
  LogSourceSpec spec = file_spec({dir.path() + "/*.log"});
  std::get<FileSourceSpec>(spec.kind).backfill_bytes = 1000;
  spec.max_line_bytes = 32;
  auto s = source(spec, clock);
  ASSERT_TRUE(s->open(clock.now()));
  auto backfill = texts(*s);
  EXPECT_GE(backfill.size(), 8u);
  EXPECT_LE(backfill.size(), 10u) << "only the last backfill_bytes, from a line start";
  EXPECT_EQ(backfill.back().size(), 32u) << "cut at max_line_bytes";
  append(dir.file("b.log"), "bad \xff\x1b[2J byte\n");
  auto got = texts(*s, 1, 2s);
  ASSERT_EQ(got.size(), 1u) << "a new file matching the glob is read from its start";
  EXPECT_EQ(got[0], "bad \xEF\xBF\xBD\xEF\xBF\xBD[2J byte");
  LogSourceRegistry r;
  register_builtin_log_sources(r);
  EXPECT_FALSE(r.make(file_spec({}), clock).has_value()) << "no paths is an error";
}

constexpr const char* kJournalRemote = "/usr/lib/systemd/systemd-journal-remote";

// Export-format entries written into a journal file of `dir`.
void write_journal(const std::string& dir, const std::string& name, const std::vector<std::tuple<std::string, std::string, int>>& entries) {
  test::TempDir tmp;
  std::string exp;
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  int i = 0;
  for (const auto& [unit, message, priority] : entries) {
    exp += "__REALTIME_TIMESTAMP=" + std::to_string(now + i++) + "\n";
    exp += "__MONOTONIC_TIMESTAMP=" + std::to_string(1000 + i) + "\n";
    exp += "_BOOT_ID=0123456789abcdef0123456789abcdef\n_MACHINE_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=test\n";
    exp += "_SYSTEMD_UNIT=" + unit + "\nMESSAGE=" + message + "\nPRIORITY=" + std::to_string(priority) + "\n\n";
  }
  std::string input = tmp.write("in.export", exp);
  pid_t pid = fork();
  if (pid == 0) {
    std::string out = "--output=" + dir + "/" + name;
    execl(kJournalRemote, kJournalRemote, out.c_str(), input.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "systemd-journal-remote failed";
}

TEST(JournaldSource, ReadsAJournalDirectoryByUnitAndFollowsAppends) {
  if (access(kJournalRemote, X_OK) != 0) GTEST_SKIP() << "systemd-journal-remote not installed (scripts/install-deps.sh)";
  test::TempDir dir;
  SystemClock clock;
  write_journal(dir.path(), "first.journal",
                {{"wiki.service", "editor module list empty", 4}, {"other.service", "not ours", 6}, {"wiki.service", "render failed", 3}});
  LogSourceSpec spec;
  spec.name = "wiki";
  spec.type = "journald";
  spec.kind = JournaldSourceSpec{.directory = dir.path(), .units = {"wiki.service"}};
  auto s = source(spec, clock);
  ASSERT_TRUE(s->open(clock.now() - 10min));
  std::vector<LogLine> lines;
  ASSERT_TRUE(s->poll(lines, 100));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "editor module list empty");
  EXPECT_EQ(lines[0].level, Level::Warning);
  EXPECT_EQ(lines[1].level, Level::Error);
  EXPECT_LE(lines[1].at, clock.now());
  // More entries appended to the journal while following.
  write_journal(dir.path(), "first.journal", {{"wiki.service", "after the release", 3}});
  auto more = texts(*s, 1, 5s);
  EXPECT_EQ(more, (std::vector<std::string>{"after the release"}));
  EXPECT_NE(s->status().find("3 entries"), std::string::npos) << s->status();
}

TEST(JournaldSource, ABadDirectoryOrMatchIsAnError) {
  SystemClock clock;
  LogSourceSpec spec;
  spec.type = "journald";
  spec.kind = JournaldSourceSpec{.matches = {"no-equals-sign"}};
  LogSourceRegistry r;
  register_builtin_log_sources(r);
  EXPECT_FALSE(r.make(spec, clock).has_value());
  spec.kind = JournaldSourceSpec{.directory = "/nonexistent/journal/dir"};
  auto s = r.make(spec, clock);
  ASSERT_TRUE(s.has_value());
  // sd_journal_open_directory on a missing directory fails at open.
  EXPECT_FALSE((*s)->open(clock.now()).has_value());
}

TEST(CommandSource, StreamsLinesAndRestartsAfterAnExit) {
  SystemClock clock;
  LogSourceSpec spec;
  spec.name = "cmd";
  spec.type = "command";
  CommandSourceSpec c;
  c.command.argv = {"/bin/sh", "-c", "echo one; echo two; sleep 0.1; exit 3"};
  c.restart_min = 100ms;
  c.restart_max = 400ms;
  spec.kind = c;
  auto s = source(spec, clock);
  ASSERT_TRUE(s->open(clock.now()));
  auto got = texts(*s, 4, 10s);
  ASSERT_GE(got.size(), 4u) << s->status();
  EXPECT_EQ(got[0], "one");
  EXPECT_EQ(got[1], "two");
  EXPECT_EQ(got[2], "one") << "started again after it exited";
  EXPECT_NE(s->status().find("exited 3"), std::string::npos);
}

}  // namespace
}  // namespace dg::logs
