#include <gtest/gtest.h>

#include <fstream>

#include "agent/core/secrets.h"
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

TEST(Journal, TornTailIsDroppedOnOpenAndTheChainGoesOn) {
  test::TempDir dir;
  std::string path = dir.file("j.jsonl");
  std::string content = write_records(path, 2);
  overwrite(path, content + R"({"seq":3,"time":"2026-)");  // died inside write
  EXPECT_FALSE(verify_journal(path).ok);
  write_records(path, 1);
  JournalCheck c = verify_journal(path);
  EXPECT_TRUE(c.ok) << c.message;
  EXPECT_EQ(c.records, 3);
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
