// Header patterns: the default's stripping of common prefixes, the built-in
// formats, user regexes with named groups, level normalisation and times.
#include <gtest/gtest.h>

#include "logs/header.h"
#include "logs/level.h"
#include "logs/line_splitter.h"

namespace dg::logs {
namespace {

struct Case {
  const char* line;
  const char* message;
  Level level;
};

TEST(HeaderAuto, StripsCommonPrefixes) {
  auto h = HeaderParser::make({});
  const Case cases[] = {
      {"2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.MRAppMaster: Created MRAppMaster", "Created MRAppMaster", Level::Info},
      {"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating", "PacketResponder 1 terminating", Level::Info},
      {"[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", "mod_jk child workerEnv in error state 6", Level::Error},
      {"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186", "Invalid user webmaster from 173.234.31.186", Level::Unknown},
      {"03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs", "printFreezingDisplayLogs", Level::Debug},
      {"2026-12-01T17:54:52.123Z WARN editor module list is empty", "editor module list is empty", Level::Warning},
      {"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", "onStandStepChanged 3579", Level::Unknown},
      {"I think this is a plain message", "I think this is a plain message", Level::Unknown},
      {"error: disk full", "disk full", Level::Error},
  };
  for (const auto& c : cases) {
    ParsedLine p;
    h->parse(c.line, p);
    EXPECT_EQ(p.message, c.message) << c.line;
    EXPECT_EQ(p.level, c.level) << c.line;
  }
  ParsedLine p;
  h->parse("2026-12-01T17:54:52.123Z WARN x", p);
  ASSERT_TRUE(p.time);
  EXPECT_EQ(p.time->time_since_epoch().count() > 0, true);
}

TEST(HeaderFormats, BuiltInsAndRegex) {
  ParsedLine p;
  auto sys = HeaderParser::make({.format = "syslog"});
  sys->parse("<11>Dec 10 06:55:46 host app[12]: broken pipe", p);
  EXPECT_EQ(p.message, "broken pipe");
  EXPECT_EQ(p.level, Level::Error);
  auto iso = HeaderParser::make({.format = "iso8601-level"});
  iso->parse("2026-12-01 17:54:52,001 [ERROR] boom happened", p);
  EXPECT_EQ(p.message, "boom happened");
  EXPECT_EQ(p.level, Level::Error);
  EXPECT_TRUE(p.time);
  auto lf = HeaderParser::make({.format = "logfmt"});
  lf->parse(R"(time=2026-12-01T10:00:00Z level=warn msg="editor \"modules\" empty" tenant=3)", p);
  EXPECT_EQ(p.message, "editor \"modules\" empty");
  EXPECT_EQ(p.level, Level::Warning);
  auto js = HeaderParser::make({.format = "json", .message_key = "message"});
  js->parse(R"({"message":"render failed","level":"ERROR","time":1764600000})", p);
  EXPECT_EQ(p.message, "render failed");
  EXPECT_EQ(p.level, Level::Error);
  EXPECT_TRUE(p.time);
  auto re = HeaderParser::make({.format = "regex", .pattern = R"(^(?<time>\S+) <(?<level>\w+)> (?<message>.*)$)"});
  ASSERT_TRUE(re.has_value());
  re->parse("2026-12-01T10:00:00Z <crit> all gone", p);
  EXPECT_EQ(p.message, "all gone");
  EXPECT_EQ(p.level, Level::Critical);
  // A line the pattern does not fit is parsed by the default.
  re->parse("2026-12-01 10:00:00 ERROR other shape", p);
  EXPECT_EQ(p.message, "other shape");
}

TEST(HeaderFormats, BadSettingsAreErrors) {
  EXPECT_FALSE(HeaderParser::make({.format = "regex", .pattern = "(?<time>\\S+) (.*)"}).has_value()) << "no message group";
  EXPECT_FALSE(HeaderParser::make({.format = "regex", .pattern = "(?<message>"}).has_value());
  EXPECT_FALSE(HeaderParser::make({.format = "apache"}).has_value());
}

TEST(Levels, Normalised) {
  EXPECT_EQ(parse_level("WARNING"), Level::Warning);
  EXPECT_EQ(parse_level("[err]"), Level::Error);
  EXPECT_EQ(parse_level("E"), Level::Error);
  EXPECT_EQ(parse_level("e"), std::nullopt);
  EXPECT_EQ(parse_level("fatal"), Level::Critical);
  EXPECT_EQ(parse_level("hello"), std::nullopt);
  EXPECT_EQ(level_of_priority(3), Level::Error);
  EXPECT_EQ(level_of_priority(0), Level::Critical);
  EXPECT_EQ(level_of_priority(6), Level::Info);
}

TEST(LogTime, Formats) {
  auto t = parse_log_time("2026-12-01T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(*parse_log_time("2026-12-01T02:00:00+02:00"), *t);
  EXPECT_EQ(*parse_log_time("2026-12-01 00:00:00,000"), *t);
  EXPECT_EQ(*parse_log_time("1796083200"), *t);
  EXPECT_FALSE(parse_log_time("yesterday"));
}

TEST(LineSplitter, BoundsLinesAndKeepsInvalidUtf8Visible) {
  LineSplitter s(8);
  std::vector<std::pair<std::string, bool>> got;
  auto sink = [&](std::string&& t, bool cut) { got.emplace_back(std::move(t), cut); };
  s.feed("short\nthis one is far too long\nok", sink);
  s.feed("!\r\n", sink);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, "short");
  EXPECT_EQ(got[1].first, "this one");
  EXPECT_TRUE(got[1].second);
  EXPECT_EQ(got[2].first, "ok!");
  EXPECT_EQ(sanitize_utf8("a\xff" "b\x1b[31m"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD[31m");
  EXPECT_EQ(sanitize_utf8("caf\xC3\xA9"), "caf\xC3\xA9");
}

}  // namespace
}  // namespace dg::logs
