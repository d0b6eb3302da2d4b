#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "agent/core/secrets.h"
#include "agent/core/sha256.h"
#include "agent/journal/journal.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

std::string write_records(const std::string& path, int n) {
  FakeClock clock;
  auto j = Journal::open(path, clock);
  EXPECT_TRUE(j.has_value());
  (*j)->set_context({"wiki", "prod", "2", "run1"});
  long long last = -1;
  for (int i = 0; i < n; ++i) {
    clock.advance(Duration{1000});
    long long seq = *(*j)->append("event", {{"data", {{"i", i}}}});
    if (last >= 0) {
      EXPECT_EQ(seq, last + 1);
    }
    last = seq;
  }
  return test::slurp(path);
}

void overwrite(const std::string& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

TEST(Journal, ChainVerifiesAndContinuesAcrossReopen) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  write_records(path, 3);
  write_records(path, 2);  // a second run appends to the same chain
  JournalCheck c = verify_journal(path);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.records, 5);
  std::string content = test::slurp(path);
  EXPECT_NE(content.find(R"("seq":5)"), std::string::npos);
  EXPECT_NE(content.find(R"("release":"2")"), std::string::npos);
  EXPECT_NE(content.find(std::string(R"("prev":")") + kJournalGenesis), std::string::npos);
}

TEST(Journal, DetectsAModifiedRecord) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 4);
  auto pos = content.find(R"("i":2)");
  content[pos + 4] = '7';
  overwrite(path, content);
  JournalCheck c = verify_journal(path);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.bad_line, 3);
  EXPECT_EQ(c.records, 2);
  EXPECT_NE(c.message.find("modified"), std::string::npos) << c.message;
}

TEST(Journal, DetectsADeletedRecord) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 4);
  auto first_nl = content.find('\n');
  auto second_nl = content.find('\n', first_nl + 1);
  overwrite(path, content.substr(0, first_nl + 1) + content.substr(second_nl + 1));
  JournalCheck c = verify_journal(path);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.bad_line, 2);
}

TEST(Journal, DetectsARecomputedHashBecauseTheNextLinkBreaks) {
  // Someone edits record 2 and fixes its hash: record 3's prev no longer links.
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 3);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(content.substr(start, nl - start));
  // Replace line 2 with a line produced by a fresh journal whose prev matches line 1.
  test::TempDir other;
  std::string p2 = other.file("j.jsonl");
  overwrite(p2, lines[0] + "\n");
  {
    FakeClock clock;
    auto j = Journal::open(p2, clock);
    ASSERT_TRUE(j);
    (*j)->append("forged", {});
  }
  std::string forged = test::slurp(p2);
  std::string forged_line = forged.substr(forged.find('\n') + 1);
  overwrite(path, lines[0] + "\n" + forged_line + lines[2] + "\n");
  JournalCheck c = verify_journal(path);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.bad_line, 3);
  EXPECT_NE(c.message.find("does not link"), std::string::npos) << c.message;
}

TEST(Journal, TornTailIsReportedThenDroppedWithARecordSayingSo) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 2);
  std::string torn = R"({"seq":3,"time":"2026-)";  // died inside write
  overwrite(path, content + torn);
  // `journal verify` and open() judge it alike: the same bytes, the same hash.
  JournalCheck before = verify_journal(path);
  EXPECT_TRUE(before.ok) << before.message;
  ASSERT_TRUE(before.torn);
  EXPECT_EQ(before.torn->bytes, torn.size());
  EXPECT_EQ(before.torn->after_seq, 2);
  EXPECT_EQ(before.torn->sha256, sha256_hex(torn));
  EXPECT_NE(before.message.find("torn"), std::string::npos) << before.message;
  FakeClock clock;
  {
    auto j = Journal::open(path, clock);
    ASSERT_TRUE(j) << j.error().message;
    ASSERT_TRUE((*j)->dropped_tail());
    EXPECT_EQ((*j)->dropped_tail()->sha256, before.torn->sha256);
    EXPECT_EQ((*j)->head().seq, 3);
  }
  std::string after = test::slurp(path);
  EXPECT_EQ(after.find(torn), std::string::npos);
  EXPECT_NE(after.find(R"("kind":"torn_record_dropped")"), std::string::npos);
  EXPECT_NE(after.find(fmt::format(R"("bytes":{})", torn.size())), std::string::npos);
  EXPECT_NE(after.find(sha256_hex(torn)), std::string::npos) << "the drop names what was dropped";
  write_records(path, 1);
  JournalCheck c = verify_journal(path);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_FALSE(c.torn);
  EXPECT_EQ(c.records, 4);
}

TEST(Journal, AModifiedJournalIsRefusedNotExtended) {
  // Only the last record was checked before: an edit further up was extended.
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 4);
  auto pos = content.find(R"("i":1)");
  content[pos + 4] = '9';
  overwrite(path, content);
  FakeClock clock;
  auto j = Journal::open(path, clock);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("will not be extended"), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find("agent.journal"), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find(":2:"), std::string::npos) << "names the broken line: " << j.error().message;
  EXPECT_EQ(test::slurp(path), content) << "nothing appended";
}

// Fails the n-th write (short or error), fsync, or ftruncate on demand.
struct FailingIo final : JournalIo {
  int writes = 0;
  int short_write_at = -1;  // write number that writes only half the line
  int fsync_fail_at = -1;   // fsync number that fails with EIO
  int fsyncs = 0;
  bool truncate_fails = false;
  ssize_t write(int fd, const void* data, size_t size) override {
    ++writes;
    if (writes == short_write_at) return JournalIo::write(fd, data, size / 2);
    return JournalIo::write(fd, data, size);
  }
  int fsync(int fd) override {
    if (++fsyncs == fsync_fail_at) {
      errno = EIO;
      return -1;
    }
    return JournalIo::fsync(fd);
  }
  int ftruncate(int fd, off_t size) override {
    if (truncate_fails) {
      errno = EIO;
      return -1;
    }
    return JournalIo::ftruncate(fd, size);
  }
};

TEST(Journal, EachRecordIsOneWriteAndAShortWriteIsCutBackNotCompleted) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  FakeClock clock;
  auto io = std::make_shared<FailingIo>();
  io->short_write_at = 2;
  auto j = Journal::open(path, clock, io);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->append("first", {}));
  EXPECT_EQ(io->writes, 1) << "one write() per record";
  std::string good = test::slurp(path);
  auto r = (*j)->append("second", {{"data", {{"x", std::string(500, 'x')}}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("short write"), std::string::npos) << r.error().message;
  EXPECT_EQ(io->writes, 2) << "the rest is never written later";
  EXPECT_EQ(test::slurp(path), good) << "cut back to the last whole record";
  auto seq = (*j)->append("third", {});
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 2);
  JournalCheck c = verify_journal(path);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_FALSE(c.torn);
  EXPECT_EQ(c.records, 2);
}

TEST(Journal, AFailedFsyncIsCutBack) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  FakeClock clock;
  auto io = std::make_shared<FailingIo>();
  io->fsync_fail_at = 2;
  auto j = Journal::open(path, clock, io);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->append("first", {}));
  std::string good = test::slurp(path);
  auto r = (*j)->append("second", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("fsync"), std::string::npos) << r.error().message;
  EXPECT_EQ(test::slurp(path), good);
  ASSERT_TRUE((*j)->append("third", {}));
  EXPECT_TRUE(verify_journal(path).ok);
  EXPECT_EQ(verify_journal(path).records, 2);
}

TEST(Journal, APartialRecordThatCannotBeCutOffIsNeverFollowedByGoodOnes) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  FakeClock clock;
  auto io = std::make_shared<FailingIo>();
  io->short_write_at = 2;
  io->truncate_fails = true;
  auto j = Journal::open(path, clock, io);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->append("first", {}));
  ASSERT_FALSE((*j)->append("second", {}));
  auto r = (*j)->append("third", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("partial record"), std::string::npos) << r.error().message;
  EXPECT_EQ(io->writes, 2);
}

TEST(Journal, HeadDetectsTruncationAndRewrite) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 4);
  JournalCheck full = verify_journal(path);
  ASSERT_EQ(full.head.seq, 4);
  JournalHead head = full.head;
  auto parsed = parse_journal_head(head.str());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->hash, head.hash);
  EXPECT_FALSE(parse_journal_head("4:abc"));
  EXPECT_FALSE(parse_journal_head("x:" + head.hash));

  JournalCheck same = verify_journal(path, head);
  ASSERT_TRUE(same.head_ok);
  EXPECT_TRUE(*same.head_ok) << same.head_message;

  // Truncating the tail leaves a chain that verifies: only the head shows it.
  overwrite(path, content.substr(0, content.rfind('\n', content.size() - 2) + 1));
  JournalCheck cut = verify_journal(path, head);
  EXPECT_TRUE(cut.ok);
  ASSERT_TRUE(cut.head_ok);
  EXPECT_FALSE(*cut.head_ok);
  EXPECT_NE(cut.head_message.find("TRUNCATED"), std::string::npos) << cut.head_message;

  // Rewriting the whole file (a fresh, valid chain) is caught too.
  std::remove(path.c_str());
  {
    FakeClock clock;
    auto j = Journal::open(path, clock);
    ASSERT_TRUE(j);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*j)->append("forged", {{"data", {{"i", i}}}}));
  }
  JournalCheck rewritten = verify_journal(path, head);
  EXPECT_TRUE(rewritten.ok);
  ASSERT_TRUE(rewritten.head_ok);
  EXPECT_FALSE(*rewritten.head_ok);
  EXPECT_NE(rewritten.head_message.find("REWRITTEN"), std::string::npos) << rewritten.head_message;
}

TEST(Journal, CreatesItsDirectoryAndReportsTheHead) {
  test::TempDir dir;
  std::string path = dir.path() + "/a/b/j.jsonl";
  FakeClock clock;
  auto j = Journal::open(path, clock);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ((*j)->head().seq, 0);
  EXPECT_EQ((*j)->head().hash, kJournalGenesis);
  ASSERT_TRUE((*j)->append("one", {}));
  JournalCheck c = verify_journal(path);
  EXPECT_EQ((*j)->head().str(), c.head.str());
}

TEST(Journal, OneProcessAtATime) {
  test::TempDir dir;
  FakeClock clock;
  auto a = Journal::open(dir.file("j.jsonl"), clock);
  ASSERT_TRUE(a);
  // flock is per open file description: a second open in this process conflicts too.
  auto b = Journal::open(dir.file("j.jsonl"), clock);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("in use"), std::string::npos);
}

TEST(Journal, SecretsAreRedactedBeforeHashing) {
  test::TempDir dir;
  secrets::add("p4ssw0rd-xyz");
  FakeClock clock;
  {
    auto j = Journal::open(dir.file("j.jsonl"), clock);
    ASSERT_TRUE(j);
    (*j)->append("event", {{"data", {{"detail", "login with p4ssw0rd-xyz failed"}}}});
  }
  std::string content = test::slurp(dir.file("j.jsonl"));
  EXPECT_EQ(content.find("p4ssw0rd-xyz"), std::string::npos);
  EXPECT_NE(content.find("[REDACTED]"), std::string::npos);
  EXPECT_TRUE(verify_journal(dir.file("j.jsonl")).ok);
}

TEST(Journal, RecordsLargerThanTheReadBufferAndATornTailAfterThem) {
  // The journal is walked through a bounded buffer (1 MiB reads): records
  // spanning several reads must verify, stream and reopen like small ones.
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  FakeClock clock;
  {
    auto j = Journal::open(path, clock);
    ASSERT_TRUE(j);
    (*j)->append("small", {});
    (*j)->append("big", {{"data", std::string(3 << 20, 'x')}});
    (*j)->append("small", {});
  }
  std::string content = test::slurp(path);
  // A kill inside the write of a 2 MiB record: its start, no newline.
  overwrite(path, content + "{\"seq\":4,\"data\":\"" + std::string(2 << 20, 'y'));
  auto check = verify_journal(path);
  EXPECT_TRUE(check.ok) << check.message;
  EXPECT_EQ(check.records, 3);
  ASSERT_TRUE(check.torn.has_value());
  EXPECT_EQ(check.torn->after_seq, 3);
  std::vector<std::string> kinds;
  for_each_record(path, [&](boost::json::object& o) {
    kinds.emplace_back(o.at("kind").as_string());
    return true;
  });
  EXPECT_EQ(kinds, (std::vector<std::string>{"small", "big", "small"}));
  auto j = Journal::open(path, clock);
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ((*j)->head().seq, 4) << "the torn tail was dropped and said so";
  EXPECT_EQ(test::slurp(path).substr(0, content.size()), content);
  EXPECT_TRUE(verify_journal(path).ok);
}

TEST(Journal, DamagedLastRecordRefusesToAppend) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  overwrite(path, "this is not a journal\n");
  FakeClock clock;
  auto j = Journal::open(path, clock);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("journal verify"), std::string::npos);
}

}  // namespace
}  // namespace dg
