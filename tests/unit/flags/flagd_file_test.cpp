// flagd file writer: atomic replace, other flags and unknown fields intact,
// segment flips as targeting rules, idempotence, undo.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <filesystem>
#include <thread>

#include "agent/core/fs.h"
#include "agent/core/json_text.h"
#include "flags/flagd_file.h"
#include "flags/segment.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace json = boost::json;

const char* kFlags = R"({
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "connect-framework": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
                          "metadata": {"owner": "platform"}, "x-unknown": {"keep": [1, 2.5, "three"]}},
    "dark-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                  "targeting": {"if": [{"in": [{"var": "targetingKey"}, ["globex"]]}, "on", null]}},
    "legacy": {"state": "DISABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}
  },
  "$evaluators": {"zero": {"==": [{"var": "pluginCount"}, 0]}},
  "metadata": {"flagSetId": "wiki"}
})";

struct Fixture : ::testing::Test {
  test::TempDir dir;
  std::string path = dir.write("flags.json", kFlags);
  std::unique_ptr<FlagProvider> provider = *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{path}});
  json::value doc() { return json::parse(test::slurp(path)); }
  FlagChange segment_change(const std::string& expr = "pluginCount == 0") {
    return FlagChange{"connect-framework", "off", expr, *compile_segment(expr)};
  }
};

TEST_F(Fixture, SegmentFlipAddsATargetingRuleAndKeepsEverythingElse) {
  json::value before = doc();
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  json::value after = doc();
  const auto& flag = after.at("flags").at("connect-framework");
  EXPECT_EQ(json::serialize(flag.at("targeting")), R"({"if":[{"and":[{"!==":[{"var":"pluginCount"},null]},{"===":[{"var":"pluginCount"},0]}]},"off",null]})");
  EXPECT_EQ(flag.at("defaultVariant"), "on") << "everyone outside the segment keeps the default";
  EXPECT_EQ(flag.at("x-unknown"), before.at("flags").at("connect-framework").at("x-unknown"));
  EXPECT_EQ(flag.at("metadata"), before.at("flags").at("connect-framework").at("metadata"));
  EXPECT_EQ(after.at("flags").at("dark-mode"), before.at("flags").at("dark-mode"));
  EXPECT_EQ(after.at("flags").at("legacy"), before.at("flags").at("legacy"));
  EXPECT_EQ(after.at("$evaluators"), before.at("$evaluators"));
  EXPECT_EQ(after.at("metadata"), before.at("metadata"));
  EXPECT_EQ(after.at("$schema"), before.at("$schema"));
  // The previous state is reported for undo.
  EXPECT_EQ(json::parse(r->previous.state_json), before.at("flags").at("connect-framework"));
}

TEST_F(Fixture, ApplyingTwiceChangesNothingTheSecondTime) {
  ASSERT_TRUE(provider->apply(segment_change()));
  struct stat s1 {};
  ::stat(path.c_str(), &s1);
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->changed);
  struct stat s2 {};
  ::stat(path.c_str(), &s2);
  EXPECT_EQ(s1.st_ino, s2.st_ino) << "no rewrite when already in the desired state";
}

TEST_F(Fixture, ExistingTargetingStaysAsTheFallback) {
  auto r = provider->apply(FlagChange{"dark-mode", "off", "pluginCount == 0", *compile_segment("pluginCount == 0")});
  ASSERT_TRUE(r);
  json::value after = doc();
  const auto& rule = after.at("flags").at("dark-mode").at("targeting").at("if").as_array();
  ASSERT_EQ(rule.size(), 3u);
  EXPECT_EQ(rule[1], "off");
  EXPECT_EQ(json::serialize(rule[2]), R"({"if":[{"in":[{"var":"targetingKey"},["globex"]]},"on",null]})");
}

TEST_F(Fixture, WholeFlipSetsTheDefaultAndDropsOverridingRules) {
  auto r = provider->apply(FlagChange{"dark-mode", "on", "", ""});
  ASSERT_TRUE(r);
  json::value after = doc();
  const auto& flag = after.at("flags").at("dark-mode").as_object();
  EXPECT_EQ(flag.at("defaultVariant"), "on");
  EXPECT_FALSE(flag.contains("targeting"));
}

TEST_F(Fixture, ReplaceIsAtomicWithANewInodeNewerMtimeAndNoTempFilesLeft) {
  struct stat before {};
  ::stat(path.c_str(), &before);
  ::chmod(path.c_str(), 0640);
  ASSERT_TRUE(provider->apply(segment_change()));
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino) << "rename over, never rewrite in place";
  EXPECT_EQ(after.st_mode & 0777, 0640u) << "mode kept";
  auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
  EXPECT_GT(ns(after.st_mtim), ns(before.st_mtim));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"flags.json", "flags.json.lock"})) << "no temp files left";
}

TEST_F(Fixture, PreviewSaysWhatWouldBeWrittenAndWritesNothing) {
  std::string before = test::slurp(path);
  auto r = provider->preview(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_NE(r->current.state_json.find("targeting"), std::string::npos);
  EXPECT_EQ(r->previous.state_json.find("targeting"), std::string::npos);
  EXPECT_EQ(test::slurp(path), before);
}

TEST_F(Fixture, RestoreUndoesTheChange) {
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r);
  auto back = provider->restore(r->previous);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->changed);
  EXPECT_EQ(doc(), json::parse(kFlags));
}

TEST_F(Fixture, ErrorsLeaveTheFileUntouched) {
  std::string original = test::slurp(path);
  auto missing = provider->apply(FlagChange{"no-such-flag", "off", "", ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("connect-framework"), std::string::npos) << "lists the flags there";
  auto bad_variant = provider->apply(FlagChange{"connect-framework", "disabled", "", ""});
  ASSERT_FALSE(bad_variant);
  EXPECT_NE(bad_variant.error().message.find("no variant"), std::string::npos);
  auto disabled = provider->apply(FlagChange{"legacy", "b", "", ""});
  ASSERT_FALSE(disabled);
  EXPECT_EQ(test::slurp(path), original);

  dir.write("flags.json", "{ not json");
  auto invalid = provider->apply(segment_change());
  ASSERT_FALSE(invalid);
  EXPECT_NE(invalid.error().message.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(test::slurp(path), "{ not json");
}

// Someone else (a person, another tool) changing a flag in the file.
void edit_flag_by_hand(const std::string& path, const std::string& flag, const std::string& key, json::value v) {
  json::value d = json::parse(test::slurp(path));
  d.at("flags").at(flag).as_object()[key] = std::move(v);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << json::serialize(d);
}

TEST_F(Fixture, UndoRestoresWhenTheFlagIsStillWhatWeWrote) {
  auto r = provider->apply(segment_change(), provider->read("connect-framework").value());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->conflict);
  auto back = provider->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  EXPECT_FALSE(back->conflict);
  EXPECT_EQ(doc(), json::parse(kFlags));
  // A second undo finds the flag already restored: unchanged, not a conflict.
  auto again = provider->restore(r->previous, r->current);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  EXPECT_FALSE(again->conflict);
}

TEST_F(Fixture, UndoAfterSomeoneElseChangedTheFlagIsAConflictAndKeepsTheirChange) {
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r);
  edit_flag_by_hand(path, "connect-framework", "defaultVariant", "off");  // after our flip
  std::string theirs = test::slurp(path);
  auto back = provider->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->conflict);
  EXPECT_FALSE(back->changed);
  EXPECT_EQ(json::parse(back->previous.state_json).at("defaultVariant"), "off") << "reports the state found";
  EXPECT_NE(back->detail.find("someone else"), std::string::npos) << back->detail;
  EXPECT_EQ(test::slurp(path), theirs) << "their change is not overwritten";
}

TEST_F(Fixture, ApplyWithAStaleExpectationIsAConflictAndWritesNothing) {
  auto seen = provider->read("connect-framework");
  ASSERT_TRUE(seen);
  edit_flag_by_hand(path, "connect-framework", "metadata", json::object{{"owner", "someone-else"}});
  std::string theirs = test::slurp(path);
  auto r = provider->apply(segment_change(), *seen);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->conflict);
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(test::slurp(path), theirs);
  // With the state read again, the flip goes through on top of their change.
  auto retry = provider->apply(segment_change(), r->previous);
  ASSERT_TRUE(retry);
  EXPECT_FALSE(retry->conflict);
  EXPECT_TRUE(retry->changed);
  json::value after = doc();
  const auto& flag = after.at("flags").at("connect-framework");
  EXPECT_EQ(flag.at("metadata").at("owner"), "someone-else");
  EXPECT_TRUE(flag.as_object().contains("targeting"));
}

TEST_F(Fixture, TheSameStateInAnotherKeyOrderIsNoConflict) {
  auto seen = provider->read("connect-framework");
  ASSERT_TRUE(seen);
  // A person's tool rewrote the file: same values, other order and spacing.
  json::value d = doc();
  json::object reordered;
  const auto& f = d.at("flags").at("connect-framework").as_object();
  for (auto it = f.end(); it != f.begin();) {
    --it;
    reordered[it->key()] = it->value();
  }
  d.at("flags").as_object()["connect-framework"] = reordered;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << pretty_json(d, 4);
  auto r = provider->apply(segment_change(), *seen);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->conflict);
  EXPECT_TRUE(r->changed);
}

TEST_F(Fixture, ModeAndOwnerAreKept) {
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  bool root = ::geteuid() == 0;
  // As root the file can belong to anyone: it must stay theirs, not become root's.
  if (root) ASSERT_EQ(::chown(path.c_str(), 4321, 8765), 0);
  struct stat before {};
  ::stat(path.c_str(), &before);
  ASSERT_TRUE(provider->apply(segment_change()));
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_EQ(after.st_mode & 07777, 0640u);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  if (root) {
    EXPECT_EQ(after.st_uid, 4321u);
    EXPECT_EQ(after.st_gid, 8765u);
  }
}

TEST_F(Fixture, ASymlinkedPathStaysALinkAndItsTargetIsReplaced) {
  std::filesystem::create_directory(dir.file("real"));
  std::string target = dir.write("real/flags.json", kFlags);
  std::string link = dir.file("flags-link.json");
  std::filesystem::create_symlink("real/flags.json", link);  // relative, as deploy tools make them
  auto linked = *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{link}});
  auto r = linked->apply(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(std::filesystem::is_symlink(link)) << "the link was replaced by a plain file";
  EXPECT_EQ(std::filesystem::read_symlink(link), "real/flags.json");
  EXPECT_TRUE(json::parse(test::slurp(target)).at("flags").at("connect-framework").as_object().contains("targeting"));
  EXPECT_TRUE(std::filesystem::exists(target + ".lock")) << "the lock is beside the file every writer shares";
  auto back = linked->restore(r->previous, r->current);
  ASSERT_TRUE(back);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(json::parse(test::slurp(target)), json::parse(kFlags));
}

TEST_F(Fixture, AWriterHoldingTheLockMakesUsWaitThenFailClearly) {
  auto held = fs::lock_exclusive(path + ".lock", std::chrono::milliseconds(1000));
  ASSERT_TRUE(held) << held.error().message;
  auto impatient =
      *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{path, std::chrono::milliseconds(50)}});
  std::string original = test::slurp(path);
  auto r = impatient->apply(segment_change());
  ASSERT_FALSE(r) << "wrote while another writer held the lock";
  EXPECT_NE(r.error().message.find(path + ".lock"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("nothing was written"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::slurp(path), original);
  // Reads and previews need no lock (a dry run must work beside a busy writer).
  EXPECT_TRUE(impatient->read("connect-framework"));
  EXPECT_TRUE(impatient->preview(segment_change()));
  held = fs::FileLock();  // released: the write goes through
  EXPECT_TRUE(impatient->apply(segment_change()));
}

TEST_F(Fixture, AFailedWriteIsAClearErrorAndLeavesTheFileAndNoTempFile) {
  std::string original = test::slurp(path);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A file-size limit below the new content: write(2) fails with EFBIG.
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{64, 64};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto r = provider->apply(segment_change());
    bool clear = !r && r.error().message.find("cannot write") != std::string::npos &&
                 r.error().message.find("File too large") != std::string::npos;
    ::_exit(r ? 1 : clear ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the write succeeded, 2: the error does not say what failed";
  EXPECT_EQ(test::slurp(path), original);
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(Fixture, AnUnwritableDirectoryIsAClearError) {
  if (::geteuid() == 0) {
    // Root ignores directory permissions; a lock file that cannot be created
    // (its name taken by a directory) exercises the same early failure.
    std::filesystem::create_directory(path + ".lock");
    auto r = provider->apply(segment_change());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("cannot open the lock file"), std::string::npos) << r.error().message;
    EXPECT_EQ(doc(), json::parse(kFlags));
    return;
  }
  ASSERT_TRUE(provider->apply(segment_change()));  // the lock file exists now
  ::chmod(dir.path().c_str(), 0555);
  auto r = provider->restore(FlagSnapshot{"connect-framework", "null"});
  ::chmod(dir.path().c_str(), 0755);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot create a temporary file in " + dir.path()), std::string::npos)
      << r.error().message;
}

// Real fsync again at scope exit, whatever the test did.
struct FsyncHooks {
  explicit FsyncHooks(fs::testing::FsyncHooks h) { fs::testing::set_fsync_hooks(std::move(h)); }
  ~FsyncHooks() { fs::testing::set_fsync_hooks({}); }
};

// Sets dark-mode's default as a person's editor would: no lock, in place.
void edit_by_hand(const std::string& path, const std::string& variant) {
  json::value d = json::parse(test::slurp(path));
  d.at("flags").at("dark-mode").as_object()["defaultVariant"] = variant;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << json::serialize(d);
}

TEST_F(Fixture, ADirectoryFsyncFailureAfterTheRenameIsAChangeWithAWarning) {
  FsyncHooks hooks({.directory = [](int) { errno = EIO; return -1; }});
  auto r = provider->apply(segment_change());
  // The flag is flipped: an error here would leave it flipped with no undo.
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_TRUE(json::parse(r->current.state_json).as_object().contains("targeting"));
  EXPECT_TRUE(doc().at("flags").at("connect-framework").as_object().contains("targeting"));
  EXPECT_NE(r->detail.find("warning"), std::string::npos) << r->detail;
  EXPECT_NE(r->detail.find("may not survive a power loss"), std::string::npos) << r->detail;

  auto back = provider->restore(r->previous, r->current);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->changed);
  EXPECT_FALSE(back->conflict);
  EXPECT_NE(back->detail.find("warning"), std::string::npos) << back->detail;
  EXPECT_EQ(doc(), json::parse(kFlags));
}

TEST_F(Fixture, AnEditorSavingWhileWeFsyncKeepsTheirSaveAndGetsOurChangeOnTop) {
  int saves = 0;
  FsyncHooks hooks({.temp_file = [&](int fd) {
    if (saves++ == 0) edit_by_hand(path, "on");  // an editor ignoring the lock, during our fsync
    return ::fsync(fd);
  }});
  auto r = provider->apply(segment_change());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(saves, 2) << "the write was not started again from the editor's content";
  json::value after = doc();
  EXPECT_EQ(after.at("flags").at("dark-mode").at("defaultVariant"), "on") << "the editor's save was overwritten";
  EXPECT_TRUE(after.at("flags").at("connect-framework").as_object().contains("targeting"));
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(Fixture, AnEditorSavingOnEveryTryMeansNothingWrittenAndTheirLastSaveKept) {
  int saves = 0;
  FsyncHooks hooks({.temp_file = [&](int fd) {
    edit_by_hand(path, ++saves % 2 ? "on" : "off");
    return ::fsync(fd);
  }});
  auto r = provider->apply(segment_change());
  ASSERT_FALSE(r) << "wrote over the editor's save";
  EXPECT_NE(r.error().message.find("keeps changing under us"), std::string::npos) << r.error().message;
  EXPECT_EQ(saves, 3);
  EXPECT_EQ(doc().at("flags").at("dark-mode").at("defaultVariant"), "on");
  EXPECT_FALSE(doc().at("flags").at("connect-framework").as_object().contains("targeting"));
}

TEST(FsWrite, ASymlinkedPathStaysALinkAndTheTempFileGoesBesideTheTarget) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.file("real"));
  std::string target = dir.write("real/report.json", "old");
  std::filesystem::create_symlink(target, dir.file("report.json"));  // absolute link
  ASSERT_TRUE(fs::write_file_atomic(dir.file("report.json"), "new"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("report.json")));
  EXPECT_EQ(test::slurp(target), "new");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("real")), {}), 1) << "no temp file left";
}

TEST(FsWrite, ALinkLoopIsAClearError) {
  test::TempDir dir;
  std::filesystem::create_symlink("b", dir.file("a"));
  std::filesystem::create_symlink("a", dir.file("b"));
  auto w = fs::write_file_atomic(dir.file("a"), "x");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("too many levels of symbolic links"), std::string::npos) << w.error().message;
}

// Flips `flag` between its two variants `rounds` times through its own
// provider instance (its own lock file descriptor); returns how many times
// the flag was not in the state this writer had left it in: someone else's
// read-modify-write overwrote it with an older copy.
int flip_many(const std::string& path, const std::string& flag, int rounds) {
  auto provider = *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{path}});
  int lost = 0;
  std::string mine;
  for (int i = 0; i < rounds; ++i) {
    auto r = provider->apply(FlagChange{flag, i % 2 ? "on" : "off", "", ""});
    if (!r) return -1;
    if (!mine.empty() && json::parse(r->previous.state_json) != json::parse(mine)) ++lost;
    mine = r->current.state_json;
  }
  return lost;
}

TEST_F(Fixture, TwoWritersInOneProcessNeverLoseEachOthersChanges) {
  constexpr int kRounds = 150;
  std::atomic<int> lost_a{0}, lost_b{0};
  std::thread a([&] { lost_a = flip_many(path, "connect-framework", kRounds); });
  std::thread b([&] { lost_b = flip_many(path, "dark-mode", kRounds); });
  a.join();
  b.join();
  EXPECT_EQ(lost_a, 0) << "connect-framework flips overwritten by the other writer";
  EXPECT_EQ(lost_b, 0) << "dark-mode flips overwritten by the other writer";
  // Each writer's last flip (round kRounds-1 is odd: "on") is in the file.
  EXPECT_EQ(doc().at("flags").at("connect-framework").at("defaultVariant"), "on");
  EXPECT_EQ(doc().at("flags").at("dark-mode").at("defaultVariant"), "on");
}

TEST_F(Fixture, TwoWriterProcessesNeverLoseEachOthersChanges) {
  constexpr int kRounds = 150;
  std::vector<pid_t> kids;
  for (const char* flag : {"connect-framework", "dark-mode"}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int lost = flip_many(path, flag, kRounds);
      ::_exit(lost < 0 ? 255 : std::min(lost, 254));
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "flips lost (255: a flip failed)";
  }
  EXPECT_EQ(doc().at("flags").at("connect-framework").at("defaultVariant"), "on");
  EXPECT_EQ(doc().at("flags").at("dark-mode").at("defaultVariant"), "on");
}

TEST(Segment, CompilesToStrictJsonLogicThatRequiresTheAttribute) {
  auto guard = [](const std::string& var, const std::string& cmp) {
    return R"({"and":[{"!==":[{"var":")" + var + R"("},null]},)" + cmp + "]}";
  };
  EXPECT_EQ(*compile_segment("pluginCount == 0"), guard("pluginCount", R"({"===":[{"var":"pluginCount"},0]})"));
  EXPECT_EQ(*compile_segment("plan in ['free', \"trial\"]"),
            guard("plan", R"({"in":[{"var":"plan"},["free","trial"]]})"));
  EXPECT_EQ(*compile_segment("pluginCount == 0 and plan != 'enterprise'"),
            "{\"and\":[" + guard("pluginCount", R"({"===":[{"var":"pluginCount"},0]})") + "," +
                guard("plan", R"({"!==":[{"var":"plan"},"enterprise"]})") + "]}");
  EXPECT_EQ(*compile_segment("a >= 1.5 || b < -2"),
            "{\"or\":[" + guard("a", R"({">=":[{"var":"a"},1.5E0]})") + "," + guard("b", R"({"<":[{"var":"b"},-2]})") +
                "]}");
  EXPECT_EQ(*compile_segment("beta == true"), guard("beta", R"({"===":[{"var":"beta"},true]})"));
}

TEST(Segment, RejectsWithAColumn) {
  for (const char* bad : {"", "== 0", "pluginCount", "pluginCount = 0", "a == 1 and b == 2 or c == 3", "a in [1,",
                          "a == 'open", "a == 0x10", "3 == a"}) {
    auto r = compile_segment(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find("column"), std::string::npos) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace dg
