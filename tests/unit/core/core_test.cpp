#include <gtest/gtest.h>

#include "agent/core/duration.h"
#include "agent/core/regex.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

TEST(Duration, Parses) {
  EXPECT_EQ(*parse_duration("500ms"), Duration{500});
  EXPECT_EQ(*parse_duration("10s"), Duration{10'000});
  EXPECT_EQ(*parse_duration("2m"), Duration{120'000});
  EXPECT_EQ(*parse_duration("1h"), Duration{3'600'000});
  EXPECT_EQ(*parse_duration("1m30s"), Duration{90'000});
  EXPECT_EQ(*parse_duration("0s"), Duration{0});
  EXPECT_EQ(*parse_duration("1.5s"), Duration{1500});
  EXPECT_EQ(*parse_duration("0.25m"), Duration{15'000});
}

TEST(Duration, RejectsWithAHint) {
  for (const char* bad : {"", "10", "10 s", "ten s", "5x", "-1s", "1.0005s", "1ns", "s", "99999999999999h"}) {
    auto r = parse_duration(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_NE(parse_duration("5x").error().message.find("use ms, s, m or h"), std::string::npos);
}

TEST(Duration, Formats) {
  EXPECT_EQ(format_duration(Duration{500}), "500ms");
  EXPECT_EQ(format_duration(Duration{1500}), "1.5s");
  EXPECT_EQ(format_duration(Duration{120'000}), "2m");
}

TEST(Secrets, ResolvesAndRedacts) {
  ::setenv("DG_TEST_SECRET_A", "alpha-secret-1", 1);
  auto v = secrets::resolve("env:DG_TEST_SECRET_A");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "alpha-secret-1");
  EXPECT_EQ(secrets::redact("x alpha-secret-1 y alpha-secret-1"), "x [REDACTED] y [REDACTED]");
  EXPECT_EQ(*secrets::resolve("plain"), "plain");
  ::unsetenv("DG_TEST_SECRET_B");
  auto missing = secrets::resolve("env:DG_TEST_SECRET_B");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "environment variable DG_TEST_SECRET_B is not set");
}

TEST(Regex, LongUntrustedInputNeverCrashes) {
  // std::regex recursed per character and overflowed the stack on ~100 KB.
  std::string big(2 << 20, 'a');
  auto dot = Regex::compile(".*");
  ASSERT_TRUE(dot);
  auto m = dot->full_match(big);
  EXPECT_TRUE(!m || *m);
  auto evil = Regex::compile("(a|aa)*b");
  ASSERT_TRUE(evil);
  auto s = evil->search(std::string(5000, 'a'));
  EXPECT_TRUE(!s || !*s) << "either too complex (an error value) or no match, never a crash";
  EXPECT_FALSE(Regex::compile("(unclosed"));
}

TEST(Text, DidYouMean) {
  std::vector<std::string> keys{"timeout", "interval", "url"};
  EXPECT_EQ(text::closest("timout", keys), "timeout");
  EXPECT_EQ(text::closest("intervall", keys), "interval");
  EXPECT_FALSE(text::closest("completely-different", keys));
}

TEST(Text, ExcerptIsBoundedAndPrintable) {
  std::string big(100'000, 'x');
  big[3] = '\n';
  big[4] = '\0';
  std::string e = text::excerpt(big, 240);
  EXPECT_LE(e.size(), 260u);
  EXPECT_NE(e.find("\\n"), std::string::npos);
  EXPECT_NE(e.find("\\x00"), std::string::npos);
}

TEST(Text, Rfc3339) {
  EXPECT_EQ(text::rfc3339(TimePoint{std::chrono::milliseconds{1'800'000'000'123}}), "2027-01-15T08:00:00.123Z");
}

}  // namespace
}  // namespace dg
