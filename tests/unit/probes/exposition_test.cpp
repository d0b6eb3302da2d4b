// The exposition parser on our own small cases (the public corpora run from
// scripts/conformance.sh): values, escapes, families, errors with positions,
// and no crash on garbage.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "probes/metrics/exposition.h"

namespace dg {
namespace {

struct Collected {
  std::string name, family, type;
  std::vector<std::pair<std::string, std::string>> labels;
  double value;
  std::optional<double> ts;
};

struct Collector final : ExpositionVisitor {
  std::vector<Collected> samples;
  void on_sample(const SampleView& s) override {
    Collected c{std::string(s.name), std::string(s.family), std::string(s.type), {}, s.value, s.timestamp};
    for (const auto& l : s.labels) c.labels.emplace_back(std::string(l.name), std::string(l.value));
    samples.push_back(std::move(c));
  }
};

std::expected<std::vector<Collected>, ExpositionError> parse(std::string_view text,
                                                             ExpositionFormat f = ExpositionFormat::Text004) {
  Collector c;
  auto r = parse_exposition(text, f, c);
  if (!r) return std::unexpected(r.error());
  return c.samples;
}

TEST(Exposition, TextSamplesLabelsEscapesAndTimestamps) {
  auto r = parse(
      "# HELP http_requests_total Requests.\\nTwo lines.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{route=\"/edit\",release=\"2\",msg=\"a\\\"b\\\\c\\nd\",} 1027 1395066363000\n"
      "\n"
      "# a comment\n"
      "temperature -3.5e2\n"
      "odd{x=\"y\"} NaN\n"
      "inf_value +Inf\n");
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->size(), 4u);
  const auto& a = (*r)[0];
  EXPECT_EQ(a.name, "http_requests_total");
  EXPECT_EQ(a.type, "counter");
  EXPECT_EQ(a.value, 1027);
  ASSERT_TRUE(a.ts);
  EXPECT_DOUBLE_EQ(*a.ts, 1395066363.0);
  ASSERT_EQ(a.labels.size(), 3u);
  EXPECT_EQ(a.labels[2].second, "a\"b\\c\nd");
  EXPECT_EQ((*r)[1].value, -350);
  EXPECT_EQ((*r)[1].type, "untyped");
  EXPECT_TRUE(std::isnan((*r)[2].value));
  EXPECT_TRUE(std::isinf((*r)[3].value));
}

TEST(Exposition, HistogramSamplesBelongToTheirFamily) {
  auto r = parse(
      "# TYPE lat histogram\n"
      "lat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 0.7\nlat_count 3\n");
  ASSERT_TRUE(r) << r.error().str();
  for (const auto& s : *r) {
    EXPECT_EQ(s.family, "lat");
    EXPECT_EQ(s.type, "histogram");
  }
}

TEST(Exposition, OpenMetricsWithEofExemplarsAndSecondsTimestamps) {
  auto r = parse(
      "# TYPE req_seconds counter\n# UNIT req_seconds seconds\n"
      "req_seconds_total{a=\"b\"} 3 1700000000.5 # {trace_id=\"abc\"} 1 1700000000.25\n"
      "req_seconds_created{a=\"b\"} 1700000000\n# EOF\n",
      ExpositionFormat::OpenMetrics);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].family, "req_seconds");
  EXPECT_DOUBLE_EQ(*(*r)[0].ts, 1700000000.5);
}

struct Bad {
  const char* text;
  ExpositionFormat format;
  int line, column;
  const char* message_part;
};

void PrintTo(const Bad& b, std::ostream* os) { *os << b.line << ":" << b.column << " " << b.message_part; }

class ExpositionErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(ExpositionErrors, ReportLineColumnAndWhy) {
  const Bad& b = GetParam();
  auto r = parse(b.text, b.format);
  ASSERT_FALSE(r) << b.text;
  EXPECT_EQ(r.error().line, b.line) << r.error().str();
  EXPECT_EQ(r.error().column, b.column) << r.error().str();
  EXPECT_NE(r.error().message.find(b.message_part), std::string::npos) << r.error().str();
}

constexpr auto T = ExpositionFormat::Text004;
constexpr auto OM = ExpositionFormat::OpenMetrics;
INSTANTIATE_TEST_SUITE_P(
    Table, ExpositionErrors,
    ::testing::Values(Bad{"a 1", T, 1, 4, "newline"}, Bad{"a{b=\"c\\t\"} 1\n", T, 1, 7, "invalid escape"},
                      Bad{"ok 1\na{b=c} 1\n", T, 2, 5, "'\"'"}, Bad{"a 0x1p3\n", T, 1, 3, "invalid value"},
                      Bad{"a 1_000\n", T, 1, 3, "invalid value"}, Bad{"a 1 2.5\n", T, 1, 5, "invalid timestamp"},
                      Bad{"a 1 2 3\n", T, 1, 7, "unexpected text"}, Bad{"a{b=\"1\",b=\"2\"} 1\n", T, 1, 9, "duplicate"},
                      Bad{"a{__x=\"1\"} 1\n", T, 1, 3, "reserved"}, Bad{"a{b=\"\xff\"} 1\n", T, 1, 7, "UTF-8"},
                      Bad{"a 1\n# TYPE a gauge\n", T, 2, 1, "after its samples"},
                      Bad{"# TYPE a gauge\n# TYPE a counter\n", T, 2, 1, "second TYPE"},
                      Bad{"# TYPE a flux\n", T, 1, 10, "unknown metric type"},
                      Bad{"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", T, 2, 1, "not a number"},
                      Bad{"a 1\n", OM, 2, 1, "# EOF"}, Bad{"a 1\n\n# EOF\n", OM, 2, 1, "empty line"},
                      Bad{"# EOF\na 1\n", OM, 2, 1, "after # EOF"},
                      Bad{"# TYPE a counter\na_total -1\n# EOF\n", OM, 2, 1, "non-negative"},
                      Bad{"# TYPE a histogram\na_bucket{le=\"1\"} 1\n# EOF\n", OM, 3, 1, "+Inf"}));

TEST(Exposition, NeverCrashesOnGarbage) {
  std::mt19937 rng(42);
  const std::string alphabet = "abc_{}=\",# \n\\0.1+-eEInfNaTYPEHELP\t\r\xff\xc3";
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    size_t n = rng() % 80;
    for (size_t k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    Collector c;
    (void)parse_exposition(s, ExpositionFormat::Text004, c);
    (void)parse_exposition(s, ExpositionFormat::OpenMetrics, c);
  }
  SUCCEED();
}

TEST(Exposition, ContentTypePicksTheFormat) {
  EXPECT_EQ(format_from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"), OM);
  EXPECT_EQ(format_from_content_type("text/plain; version=0.0.4"), T);
  EXPECT_EQ(format_from_content_type(""), T);
}

}  // namespace
}  // namespace dg
