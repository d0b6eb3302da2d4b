// The masker's token classes, the Drain-style tree (routing, similarity,
// generalisation), the bounds (signature cap with its "other" bucket,
// template length, line length) and identity across a state round trip.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "logs/masker.h"
#include "logs/miner.h"

namespace dg::logs {
namespace {

std::string masked(std::string_view line, MaskOptions o = {}) {
  auto m = Masker::make(std::move(o));
  std::string buf;
  std::vector<Token> tokens;
  m->mask(line, buf, tokens);
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : " ") + buf.substr(t.off, t.len);
  return out;
}

struct MaskCase {
  const char* line;
  const char* want;
};

TEST(Masker, EachTokenClass) {
  const MaskCase cases[] = {
      {"took 125 ms", "took <*> ms"},
      {"took 1.5s and -3 retries", "took <*> and <*> retries"},
      {"block blk_-6952295868487656571 done", "block blk_<*> done"},
      {"from 10.251.73.220:50010 ok", "from <*> ok"},
      {"peer [2001:db8::1]:443 closed", "peer [<*>]:<*> closed"},
      {"peer fe80::1ff:fe23:4567:890a up", "peer <*> up"},
      {"id 123e4567-e89b-12d3-a456-426614174000 gone", "id <*> gone"},
      {"at 0x7fed806eb5d now", "at <*> now"},
      {"open /var/lib/app/data.db failed", "open <*> failed"},
      {"open C:\\Windows\\System32\\x.dll failed", "open <*> failed"},
      {"GET https://wiki.example.com/a?b=1 200", "GET <*> <*>"},
      {"user \"alice smith\" logged in", "user \"<*>\" logged in"},
      {"name 'bob' unknown", "name '<*>' unknown"},
      {"acquire lock=233570404, tag=\"View Lock\", ws=null", "acquire lock=<*>, tag=\"<*>\", ws=<*>"},
      {"host dn228 and node R02-M1-N0-C:J12-U11", "host <*> and node <*>-<*>-<*>-C:<*>-<*>"},
      {"at 2026-12-01T17:54:52.123Z", "at <*>"},
      {"plugins: editor, toolbar", "plugins: editor, toolbar"},
      {"(HWID=1973) state", "(HWID=<*>) state"},
  };
  for (const auto& c : cases) EXPECT_EQ(masked(c.line), c.want) << c.line;
}

TEST(Masker, ClassesCanBeTurnedOffAndUserMasksComeFirst) {
  MaskOptions o;
  o.numbers = false;
  o.mixed = false;
  EXPECT_EQ(masked("took 125 ms on dn228", o), "took 125 ms on dn228");
  MaskOptions u;
  u.user.push_back({R"(tenant-[a-z]+)", "<tenant>"});
  EXPECT_EQ(masked("render for tenant-acme failed", u), "render for <tenant> failed");
  EXPECT_FALSE(Masker::make(MaskOptions{.user = {{"(unclosed", "<*>"}}}).has_value());
}

TEST(Masker, IsLinearOnHostileInput) {
  // Long runs of digits, colons and quotes: one pass each, no blow-up.
  std::string hostile(200'000, ':');
  hostile += std::string(200'000, '9') + std::string(100'000, '"');
  auto m = Masker::make({});
  std::string buf;
  std::vector<Token> tokens;
  m->mask(hostile, buf, tokens);
  EXPECT_EQ(tokens.size(), 1u);
}

Miner make(MinerOptions o = {}) { return std::move(*Miner::make(std::move(o))); }

TEST(Miner, GroupsLinesOfOneTemplateAndSeparatesOthers) {
  Miner m = make();
  auto a = m.add("render ok for tenant 17 in 12 ms");
  auto b = m.add("render ok for tenant 99 in 3 ms");
  auto c = m.add("editor modules missing for tenant 17");
  EXPECT_TRUE(a.created);
  EXPECT_EQ(a.id, b.id);
  EXPECT_FALSE(b.created);
  EXPECT_NE(a.id, c.id);
  EXPECT_EQ(m.find(a.id)->text(), "render ok for tenant <*> in <*> ms");
  EXPECT_EQ(m.find(a.id)->count, 2u);
}

TEST(Miner, GeneralisingKeepsTheIdAndRecordsTheMerge) {
  Miner m = make();
  auto a = m.add("session opened for user alice by cron");
  auto b = m.add("session opened for user bob by cron");
  EXPECT_EQ(a.id, b.id);
  EXPECT_TRUE(b.generalised);
  const Signature* s = m.find(a.id);
  EXPECT_EQ(s->text(), "session opened for user <*> by cron");
  EXPECT_EQ(s->first, "session opened for user alice by cron");
  ASSERT_EQ(s->merges.size(), 1u);
  EXPECT_EQ(s->merges[0].position, 4u);
  EXPECT_EQ(s->merges[0].was, "alice");
  EXPECT_EQ(a.id, fnv1a("session opened for user alice by cron")) << "the id is the first template's hash";
}

TEST(Miner, SimilarityThresholdDecides) {
  Miner strict = make({.similarity = 0.9});
  EXPECT_NE(strict.add("worker started job a for x").id, strict.add("worker started job b for y").id);
  Miner loose = make({.similarity = 0.5});
  EXPECT_EQ(loose.add("worker started job a for x").id, loose.add("worker started job b for y").id);
}

TEST(Miner, AShortLineOfVariablesDoesNotJoinOnThemAlone) {
  Miner m = make();
  EXPECT_NE(m.add("gige4 temperature 1073375350 1 critical").id, m.add("gige7 temperature 1073151998 1 normal").id);
}

TEST(Miner, DifferentLengthsOrFirstTokensNeverMeet) {
  Miner m = make();
  EXPECT_NE(m.add("connection reset by peer").id, m.add("connection reset by peer now").id);
  EXPECT_NE(m.add("GET done fine").id, m.add("PUT done fine").id);
}

TEST(Miner, CapEvictsTheLeastRecentlyUsedIntoOther) {
  Miner m = make({.max_signatures = 3});
  auto a = m.add("alpha one");
  m.add("beta two three");
  m.add("gamma four five six");
  m.add("alpha one");                       // a is the most recent now
  auto d = m.add("delta seven eight nine ten");  // evicts beta
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.evicted(), 1u);
  EXPECT_EQ(m.other_count(), 1u);
  EXPECT_NE(m.find(a.id), nullptr);
  EXPECT_NE(m.find(d.id), nullptr);
  EXPECT_EQ(m.find(fnv1a("beta two three")), nullptr);
  // A million distinct lines stay within the cap.
  for (int i = 0; i < 20'000; ++i) m.add("word" + std::string(1, 'a' + i % 26) + std::string(1, 'a' + i / 26 % 26) + " x y" + std::string(i % 7, 'z'));
  EXPECT_LE(m.size(), 3u);
}

TEST(Miner, TemplatesAndLinesAreBounded) {
  Miner m = make({.max_tokens = 8, .max_line_bytes = 64});
  std::string longline;
  for (int i = 0; i < 100; ++i) longline += "tok" + std::string(1, 'a' + i % 26) + " ";
  auto a = m.add(longline);
  EXPECT_LE(m.find(a.id)->tokens.size(), 8u);
  EXPECT_EQ(m.find(a.id)->tokens.back(), "<*>");
  EXPECT_LE(m.find(a.id)->text().size(), 64u + 8u);
}

TEST(Miner, StateRoundTripKeepsIdsCountsAndMatching) {
  Miner m = make();
  auto a = m.add("cache miss for key user:1");
  m.add("cache miss for key user:2");
  auto b = m.add("editor module list empty for tenant 3");
  std::string state = m.to_json();
  auto r = Miner::from_json(state, MinerOptions{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(r->find(a.id)->count, 2u);
  EXPECT_EQ(r->find(a.id)->text(), m.find(a.id)->text());
  EXPECT_EQ(r->add("cache miss for key user:9").id, a.id) << "a restored miner matches lines to the same ids";
  EXPECT_EQ(r->add("editor module list empty for tenant 44").id, b.id);
  EXPECT_EQ(r->to_json().size() > 0, true);
  // Another tree shape cannot reuse the state; garbage is an error.
  EXPECT_FALSE(Miner::from_json(state, MinerOptions{.depth = 6}).has_value());
  EXPECT_FALSE(Miner::from_json("{\"version\":7}", MinerOptions{}).has_value());
  EXPECT_FALSE(Miner::from_json("not json", MinerOptions{}).has_value());
}

TEST(Miner, FreshMinersAgreeOnIdsForTheSameFirstLine) {
  Miner a = make(), b = make();
  EXPECT_EQ(a.add("disk full on /dev/sda1").id, b.add("disk full on /dev/sda1").id);
  EXPECT_EQ(id_text(0x1234), "0000000000001234");
  EXPECT_EQ(parse_id("0000000000001234"), 0x1234u);
}

}  // namespace
}  // namespace dg::logs
