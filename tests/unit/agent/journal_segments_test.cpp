// Segments and checkpoints: rotation by size, the chain across segments,
// crash states of a rotation, checkpoints that bound what open() reads, and
// the lock across rotations.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/journal/journal.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace sfs = std::filesystem;
namespace json = boost::json;

constexpr off_t kSmall = 1024;  // a few records per segment

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
void overwrite(const std::string& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }
std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}
json::object parse(const std::string& line) { return json::parse(line).as_object(); }
std::string sealed(const std::string& p, int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%06d", n);
  return p + buf;
}

std::unique_ptr<Journal> open_ok(const std::string& path, const Clock& clock, JournalOptions o = {kSmall, false},
                                 std::shared_ptr<JournalIo> io = nullptr) {
  auto j = Journal::open(path, clock, std::move(io), o);
  EXPECT_TRUE(j) << j.error().message;
  return j ? std::move(*j) : nullptr;
}

void append_n(Journal& j, int n, int from = 0) {
  for (int i = from; i < from + n; ++i) ASSERT_TRUE(j.append("event", {{"data", {{"i", i}}}}));
}

// Flips a character inside record `seq`'s data, leaving its hash as it was.
void tamper(const std::string& file, long long seq) {
  auto lines = lines_of(file);
  for (auto& l : lines)
    if (parse(l).at("seq").as_int64() == seq) {
      auto pos = l.find("\"i\":");
      ASSERT_NE(pos, std::string::npos);
      l[pos + 4] = l[pos + 4] == '9' ? '8' : '9';
      overwrite(file, join(lines));
      return;
    }
  FAIL() << "no record " << seq << " in " << file;
}

TEST(JournalSegments, RotatesBySizeAndChainsAcrossSegments) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  {
    auto j = open_ok(p, clock);
    j->set_context({"wiki", "prod", "2", "run1"});
    append_n(*j, 30);
    EXPECT_EQ(j->head().seq, 30);
  }
  auto files = journal_files(p);
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(files.front(), sealed(p, 1));
  EXPECT_EQ(files.back(), p);
  long long next = 1;
  std::string prev = kJournalGenesis;
  for (size_t i = 0; i < files.size(); ++i) {
    if (i + 1 < files.size()) {
      EXPECT_EQ(files[i], sealed(p, static_cast<int>(i) + 1));
    }
    EXPECT_LE(sfs::file_size(files[i]), static_cast<uintmax_t>(kSmall)) << files[i];
    auto lines = lines_of(files[i]);
    ASSERT_FALSE(lines.empty()) << files[i];
    for (const auto& l : lines) {
      auto o = parse(l);
      EXPECT_EQ(o.at("seq").as_int64(), next++);
      EXPECT_EQ(o.at("prev").as_string(), prev) << "each record, the first of a segment too, links to the one before";
      prev = std::string(o.at("hash").as_string());
    }
  }
  JournalCheck c = verify_journal(p);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.records, 30);
  EXPECT_EQ(c.segments, static_cast<long long>(files.size()));
  EXPECT_EQ(c.head.hash, prev);
  std::vector<long long> seen;
  for_each_record(p, [&](json::object& o) {
    seen.push_back(o.at("seq").as_int64());
    return true;
  });
  ASSERT_EQ(seen.size(), 30u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<long long>(i) + 1);
  // A second run continues the same chain, and its head check spans segments.
  JournalHead head = c.head;
  {
    auto j = open_ok(p, clock);
    EXPECT_EQ(j->head().str(), head.str());
    append_n(*j, 10, 30);
  }
  JournalCheck again = verify_journal(p, head);
  EXPECT_TRUE(again.ok) << again.message;
  EXPECT_EQ(again.records, 40);
  ASSERT_TRUE(again.head_ok);
  EXPECT_TRUE(*again.head_ok) << again.head_message;
}

TEST(JournalSegments, ARecordLargerThanASegmentGoesInWholeAndAlone) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto j = open_ok(p, clock);
  append_n(*j, 1);
  ASSERT_TRUE(j->append("big", {{"data", std::string(5000, 'x')}}));
  append_n(*j, 1, 1);
  auto files = journal_files(p);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(lines_of(files[0]).size(), 1u);
  ASSERT_EQ(lines_of(files[1]).size(), 1u);
  EXPECT_EQ(parse(lines_of(files[1])[0]).at("kind").as_string(), "big");
  EXPECT_GT(sfs::file_size(files[1]), 5000u);
  EXPECT_TRUE(verify_journal(p).ok);
}

TEST(JournalSegments, VerifyNamesTheModifiedSealedSegmentAndLine) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  { append_n(*open_ok(p, clock), 30); }
  auto lines = lines_of(sealed(p, 2));
  ASSERT_GE(lines.size(), 2u);
  long long seq = parse(lines[1]).at("seq").as_int64();
  tamper(sealed(p, 2), seq);
  JournalCheck c = verify_journal(p);
  EXPECT_FALSE(c.ok);
  EXPECT_FALSE(c.read_error);
  EXPECT_EQ(c.bad_segment, sealed(p, 2));
  EXPECT_EQ(c.bad_line, 2);
  EXPECT_EQ(c.records, seq - 1);
  EXPECT_NE(c.message.find(sealed(p, 2) + ":2: record " + std::to_string(seq) + " was modified"), std::string::npos)
      << c.message;
  // Without a checkpoint open() verifies everything, as before segments.
  auto j = Journal::open(p, clock, nullptr, {kSmall, false});
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("will not be extended"), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find("sealed segments"), std::string::npos) << "says what to move aside";
}

TEST(JournalSegments, VerifyReportsAMissingSegment) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  { append_n(*open_ok(p, clock), 30); }
  size_t n = journal_files(p).size() - 1;  // sealed segments
  ASSERT_GE(n, 3u);
  long long before = verify_journal(p).records;
  {
    // A middle one: named by the gap in the numbers.
    std::string middle = sealed(p, 2);
    std::string keep = test::slurp(middle);
    long long first_after = parse(lines_of(sealed(p, 3))[0]).at("seq").as_int64();
    ASSERT_EQ(std::remove(middle.c_str()), 0);
    JournalCheck c = verify_journal(p);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.bad_segment, middle);
    EXPECT_EQ(c.records, parse(lines_of(sealed(p, 1)).back()).at("seq").as_int64());
    EXPECT_NE(c.message.find("segment " + middle + " is missing"), std::string::npos) << c.message;
    EXPECT_LT(c.records, first_after);
    overwrite(middle, keep);
  }
  {
    // The last sealed one: no gap in the numbers, but the live file's first record no longer links.
    std::string last = sealed(p, static_cast<int>(n));
    ASSERT_EQ(std::remove(last.c_str()), 0);
    JournalCheck c = verify_journal(p);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.bad_segment, p);
    EXPECT_EQ(c.bad_line, 1);
    EXPECT_NE(c.message.find("may be missing"), std::string::npos) << c.message;
  }
  {
    // The first one.
    ASSERT_EQ(std::remove(sealed(p, 1).c_str()), 0);
    JournalCheck c = verify_journal(p);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.records, 0);
    EXPECT_NE(c.message.find("segment " + sealed(p, 1) + " is missing"), std::string::npos) << c.message;
  }
  EXPECT_GT(before, 0);
}

// The states a rotation passes through, built by hand: the process may die
// after any of its steps.
class RotationCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    p = dir.file("j.jsonl");
    auto j = open_ok(p, clock, {0, false});  // never rotates: one file
    append_n(*j, 5);
    head = j->head();
  }
  // Opens after the crash, appends, and checks the chain across the seal.
  void reopen_and_check(long long expect_head_seq) {
    {
      auto j = open_ok(p, clock);
      ASSERT_TRUE(j);
      EXPECT_EQ(j->head().seq, expect_head_seq);
      ASSERT_TRUE(j->append("after", {}));
    }
    JournalCheck c = verify_journal(p);
    EXPECT_TRUE(c.ok) << c.message;
    EXPECT_EQ(c.records, expect_head_seq + 1);
    auto first = parse(lines_of(p)[0]);
    EXPECT_EQ(first.at("seq").as_int64(), 6);
    EXPECT_EQ(first.at("prev").as_string(), head.hash) << "the new live file links to the sealed one";
  }
  test::TempDir dir;
  std::string p;
  FakeClock clock;
  JournalHead head;
};

TEST_F(RotationCrash, AfterTheRenameBeforeTheNewFileExists) {
  ASSERT_EQ(std::rename(p.c_str(), sealed(p, 1).c_str()), 0);
  JournalCheck c = verify_journal(p);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.head.str(), head.str());
  reopen_and_check(5);
  EXPECT_EQ(journal_files(p), (std::vector<std::string>{sealed(p, 1), p}));
}

TEST_F(RotationCrash, AfterCreatingTheNewFileBeforeItsFirstRecord) {
  ASSERT_EQ(std::rename(p.c_str(), sealed(p, 1).c_str()), 0);
  overwrite(p, "");
  reopen_and_check(5);
}

TEST_F(RotationCrash, InsideTheFirstRecordsWrite) {
  ASSERT_EQ(std::rename(p.c_str(), sealed(p, 1).c_str()), 0);
  overwrite(p, R"({"seq":6,"time":"20)");
  JournalCheck c = verify_journal(p);
  EXPECT_TRUE(c.ok) << c.message;
  ASSERT_TRUE(c.torn);
  EXPECT_EQ(c.torn->after_seq, 5);
  {
    auto j = open_ok(p, clock);
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->dropped_tail());
    EXPECT_EQ(j->dropped_tail()->after_seq, 5);
  }
  auto first = parse(lines_of(p)[0]);
  EXPECT_EQ(first.at("kind").as_string(), "torn_record_dropped");
  EXPECT_EQ(first.at("prev").as_string(), head.hash);
  reopen_and_check(6);
}

TEST_F(RotationCrash, ATornLineInASealedSegmentIsDamageNotATornTail) {
  ASSERT_EQ(std::rename(p.c_str(), sealed(p, 1).c_str()), 0);
  {
    std::ofstream(sealed(p, 1), std::ios::app) << R"({"seq":6,"ti)";
  }
  JournalCheck c = verify_journal(p);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.bad_segment, sealed(p, 1));
  EXPECT_EQ(c.bad_line, 6);
  EXPECT_NE(c.message.find("partial line"), std::string::npos) << c.message;
  EXPECT_FALSE(Journal::open(p, clock, nullptr, {kSmall, false}));
}

// Fails rotation steps on demand.
struct RotationIo final : JournalIo {
  int fail_create = 0;  // how many create() calls fail
  bool fail_rename = false;
  int creates = 0;
  int rename(const std::string& from, const std::string& to) override {
    if (fail_rename) {
      errno = EXDEV;
      return -1;
    }
    return JournalIo::rename(from, to);
  }
  int create(const std::string& path) override {
    ++creates;
    if (fail_create > 0) {
      --fail_create;
      errno = ENOSPC;
      return -1;
    }
    return JournalIo::create(path);
  }
};

TEST(JournalSegments, AFailedRotationStepIsRetriedByTheNextAppend) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto io = std::make_shared<RotationIo>();
  auto j = open_ok(p, clock, {kSmall, false}, io);
  // rename fails: nothing changed, the record is not written.
  io->fail_rename = true;
  std::string live;
  JournalHead before;
  Result<long long> r;
  do {
    live = test::slurp(p);
    before = j->head();
    r = j->append("event", {{"data", {{"i", 1}}}});
  } while (r);
  EXPECT_NE(r.error().message.find("cannot seal"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::slurp(p), live);
  EXPECT_EQ(j->head().str(), before.str());
  EXPECT_FALSE(sfs::exists(sealed(p, 1)));
  io->fail_rename = false;
  // create fails after the rename: no live file until the retry.
  io->fail_create = 1;
  r = j->append("event", {{"data", {{"i", 2}}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("new live file"), std::string::npos) << r.error().message;
  EXPECT_FALSE(sfs::exists(p));
  EXPECT_EQ(test::slurp(sealed(p, 1)), live) << "sealed as it was, and never written again";
  {
    auto other = Journal::open(p, clock);
    ASSERT_FALSE(other) << "the lock holds while the journal has no live file";
    EXPECT_NE(other.error().message.find("in use"), std::string::npos);
    EXPECT_FALSE(sfs::exists(p)) << "the refused open created nothing";
  }
  auto seq = j->append("event", {{"data", {{"i", 3}}}});
  ASSERT_TRUE(seq) << seq.error().message;
  EXPECT_EQ(*seq, before.seq + 1);
  EXPECT_EQ(test::slurp(sealed(p, 1)), live);
  EXPECT_EQ(parse(lines_of(p)[0]).at("prev").as_string(), before.hash);
  j.reset();
  JournalCheck c = verify_journal(p);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.records, before.seq + 1);
}

TEST(JournalSegments, AnExistingSegmentNameIsNeverOverwritten) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto j = open_ok(p, clock);
  append_n(*j, 1);
  overwrite(sealed(p, 1), "someone else's file\n");
  std::string live = test::slurp(p);
  Result<long long> r;
  for (int i = 0; i < 10 && (r = j->append("event", {{"data", {{"i", i}}}})); ++i) {
  }
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot seal"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::slurp(sealed(p, 1)), "someone else's file\n");
}

TEST(JournalSegments, OpenVerifiesOnlyFromTheLastCheckpoint) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  json::object engine{{"policies", {{"editor", "watching"}}}, {"tick", 42}};
  {
    auto j = open_ok(p, clock);
    append_n(*j, 20);
    auto seq = j->append_checkpoint({{"engine", engine}});
    ASSERT_TRUE(seq);
    EXPECT_EQ(*seq, 21);
    ASSERT_TRUE(j->last_checkpoint());
    EXPECT_EQ(j->last_checkpoint()->seq, 21);
    EXPECT_EQ(j->last_checkpoint()->sections.at("engine"), engine);
    append_n(*j, 2, 20);
  }
  // The record: its data says how many records precede it; prev is their hash.
  json::object cp;
  for_each_record(p, [&](json::object& o) {
    if (o.at("kind") == "checkpoint") cp = o;
    return true;
  });
  ASSERT_FALSE(cp.empty());
  EXPECT_EQ(cp.at("data").at("records_before").as_int64(), 20);
  EXPECT_EQ(cp.at("data").at("sections").at("engine"), engine);
  ASSERT_GE(journal_files(p).size(), 3u);
  // Damage before the checkpoint, in a sealed segment: open() never reads it.
  tamper(sealed(p, 1), 2);
  {
    auto j = open_ok(p, clock);
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->last_checkpoint());
    EXPECT_EQ(j->last_checkpoint()->seq, 21);
    EXPECT_EQ(j->last_checkpoint()->sections.at("engine"), engine);
    EXPECT_EQ(j->head().seq, 23);
  }
  JournalCheck c = verify_journal(p);
  EXPECT_FALSE(c.ok) << "journal verify checks everything";
  EXPECT_EQ(c.bad_segment, sealed(p, 1));
  EXPECT_EQ(c.bad_line, 2);
  // ...unless asked to verify everything on open.
  auto full = Journal::open(p, clock, nullptr, {kSmall, true});
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find(sealed(p, 1) + ":2:"), std::string::npos) << full.error().message;
  // Not even opened: a removed first segment does not stop open() either.
  ASSERT_EQ(std::remove(sealed(p, 1).c_str()), 0);
  EXPECT_TRUE(open_ok(p, clock));
  EXPECT_NE(verify_journal(p).message.find(sealed(p, 1) + " is missing"), std::string::npos);
}

TEST(JournalSegments, AModificationAfterTheCheckpointIsRefused) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  {
    auto j = open_ok(p, clock, {0, false});
    append_n(*j, 3);
    ASSERT_TRUE(j->append_checkpoint({{"engine", json::object{}}}));
    append_n(*j, 3, 3);
  }
  std::string clean = test::slurp(p);
  tamper(p, 6);
  auto j = Journal::open(p, clock);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("will not be extended"), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find("record 6 was modified"), std::string::npos) << j.error().message;
  // The checkpoint record itself.
  overwrite(p, clean);
  auto lines = lines_of(p);
  auto pos = lines[3].find("\"engine\":{}");
  ASSERT_NE(pos, std::string::npos);
  lines[3].replace(pos, 11, "\"engine\":[]");
  overwrite(p, join(lines));
  EXPECT_FALSE(Journal::open(p, clock));
  // A removed checkpoint: the walk starts at the start and meets the gap.
  overwrite(p, clean);
  lines = lines_of(p);
  lines.erase(lines.begin() + 3);
  overwrite(p, join(lines));
  auto gone = Journal::open(p, clock);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("seq is not 4"), std::string::npos) << gone.error().message;
}

TEST(JournalSegments, TheCheckpointIsFoundInASealedSegmentWhenTheLiveFileHasNone) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  {
    auto j = open_ok(p, clock);
    append_n(*j, 8);
    ASSERT_TRUE(j->append_checkpoint({{"engine", {{"n", 1}}}}));
    append_n(*j, 8, 8);  // several segments after it
  }
  auto files = journal_files(p);
  std::string with_cp;
  for (const auto& f : files)
    if (test::slurp(f).find("\"kind\":\"checkpoint\"") != std::string::npos) with_cp = f;
  ASSERT_FALSE(with_cp.empty());
  ASSERT_NE(with_cp, p);
  tamper(sealed(p, 1), 1);  // before it: not read
  {
    auto j = open_ok(p, clock);
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->last_checkpoint());
    EXPECT_EQ(j->last_checkpoint()->seq, 9);
  }
  // After it, in a sealed segment: verified, so refused.
  tamper(files[files.size() - 2], parse(lines_of(files[files.size() - 2])[0]).at("seq").as_int64());
  EXPECT_FALSE(Journal::open(p, clock));
}

TEST(JournalSegments, ATornTailAfterACheckpointIsDropped) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  {
    auto j = open_ok(p, clock, {0, false});
    append_n(*j, 2);
    ASSERT_TRUE(j->append_checkpoint({{"engine", {{"n", 7}}}}));
    append_n(*j, 2, 2);
  }
  std::string content = test::slurp(p);
  overwrite(p, content + R"({"seq":6,"kind":"checkpoint","da)");
  {
    auto j = open_ok(p, clock, {0, false});
    ASSERT_TRUE(j);
    ASSERT_TRUE(j->dropped_tail());
    EXPECT_EQ(j->dropped_tail()->after_seq, 5);
    ASSERT_TRUE(j->last_checkpoint());
    EXPECT_EQ(j->last_checkpoint()->seq, 3) << "the torn line is not a checkpoint";
    EXPECT_EQ(j->head().seq, 6);
  }
  JournalCheck c = verify_journal(p);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_FALSE(c.torn);
  EXPECT_EQ(test::slurp(p).substr(0, content.size()), content);
}

TEST(JournalSegments, ReplayStartsAtTheLastCheckpoint) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto seqs_since = [&] {
    std::vector<long long> out;
    for_each_record_since_checkpoint(p, [&](json::object& o) {
      out.push_back(o.at("seq").as_int64());
      EXPECT_TRUE(o.contains("hash"));
      return true;
    });
    return out;
  };
  auto j = open_ok(p, clock);
  append_n(*j, 3);
  EXPECT_EQ(seqs_since(), (std::vector<long long>{1, 2, 3})) << "no checkpoint: from the start";
  ASSERT_TRUE(j->append_checkpoint({{"engine", {{"n", 1}}}}));
  append_n(*j, 4, 3);
  ASSERT_TRUE(j->append_checkpoint({{"engine", {{"n", 2}}}}));  // seq 9
  append_n(*j, 6, 7);                                           // into later segments
  std::vector<long long> want;
  for (long long s = 9; s <= 15; ++s) want.push_back(s);
  EXPECT_EQ(seqs_since(), want);
  EXPECT_GE(journal_files(p).size(), 3u);
  auto first = true;
  for_each_record_since_checkpoint(p, [&](json::object& o) {
    if (first) {
      EXPECT_EQ(o.at("data").at("sections").at("engine").at("n"), 2);
    }
    first = false;
    return false;  // stops
  });
}

TEST(JournalSegments, OnlyAppendCheckpointWritesCheckpoints) {
  test::TempDir dir;
  FakeClock clock;
  auto j = open_ok(dir.file("j.jsonl"), clock);
  EXPECT_FALSE(j->append("checkpoint", {{"data", {{"sections", json::object{}}}}}));
  EXPECT_EQ(j->head().seq, 0);
}

TEST(JournalSegments, OneProcessAtATimeBeforeDuringAndAfterARotation) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto io = std::make_shared<RotationIo>();
  auto a = open_ok(p, clock, {kSmall, false}, io);
  auto refused_here = [&] {
    auto b = Journal::open(p, clock);
    return !b && b.error().message.find("in use") != std::string::npos;
  };
  // Another process: a fresh open of the lock file, as a second deployguard does.
  auto refused_elsewhere = [&] {
    pid_t pid = ::fork();
    if (pid == 0) {
      FakeClock c;
      auto b = Journal::open(p, c);
      ::_exit(!b && b.error().message.find("in use") != std::string::npos ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  EXPECT_TRUE(refused_here());
  EXPECT_TRUE(refused_elsewhere());
  while (journal_files(p).size() < 3) append_n(*a, 1);  // two rotations
  EXPECT_TRUE(refused_here()) << "after a rotation: P is a new inode, P.lock is not";
  EXPECT_TRUE(refused_elsewhere());
  // During one: sealed, no live file yet.
  while (true) {
    io->fail_create = 1;
    if (!a->append("event", {})) break;
  }
  ASSERT_FALSE(sfs::exists(p));
  EXPECT_TRUE(refused_here());
  EXPECT_TRUE(refused_elsewhere());
  a.reset();
  auto b = Journal::open(p, clock);
  EXPECT_TRUE(b) << b.error().message;
}

TEST(JournalSegments, ReadersBesideARotatingWriterSeeAWholeChain) {
  test::TempDir dir;
  std::string p = dir.file("j.jsonl");
  FakeClock clock;
  auto j = open_ok(p, clock, {2048, false});
  std::atomic<bool> done = false;
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) (void)j->append("event", {{"data", {{"i", i}}}});
    done = true;
  });
  int checks = 0, broken = 0;
  std::string first_broken;
  while (!done || checks == 0) {
    JournalCheck c = verify_journal(p);
    ++checks;
    if (!c.ok) {
      ++broken;
      if (first_broken.empty()) first_broken = c.message;
    }
  }
  writer.join();
  EXPECT_EQ(broken, 0) << first_broken;
  EXPECT_GT(journal_files(p).size(), 10u);
  EXPECT_TRUE(verify_journal(p).ok);
}

TEST(JournalSegments, ASymlinkedJournalRotatesBesideItsTarget) {
  test::TempDir dir;
  sfs::create_directory(dir.file("data"));
  std::string target = dir.file("data/j.jsonl");
  std::string link = dir.file("j.jsonl");
  overwrite(target, "");
  sfs::create_symlink(target, link);
  FakeClock clock;
  { append_n(*open_ok(link, clock), 20); }
  EXPECT_TRUE(sfs::is_symlink(link)) << "the link stays a link";
  EXPECT_TRUE(sfs::exists(sealed(target, 1)));
  EXPECT_FALSE(sfs::exists(sealed(link, 1)));
  JournalCheck c = verify_journal(link);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.records, 20);
}

}  // namespace
}  // namespace dg
