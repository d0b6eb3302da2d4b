// The exposition parser on our own small cases (the public corpora run from
// scripts/conformance.sh): values, escapes, families, errors with positions,
// and no crash on garbage.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
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
                      Bad{"# TYPE a histogram\na_bucket{le=\"1\"} 1\n# EOF\n", OM, 3, 1, "+Inf"},
                      Bad{"# TYPE a counter\n# TYPE a_total gauge\n# EOF\n", OM, 2, 1, "clashes with family a"},
                      Bad{"# TYPE a_total gauge\n# TYPE a counter\n# EOF\n", OM, 2, 1, "clashes with family a_total"},
                      Bad{"# TYPE h_count gauge\n# TYPE h summary\n# EOF\n", OM, 2, 1, "clashes with family h_count"},
                      Bad{"# TYPE h summary\n# TYPE h_count_sum gauge\n# TYPE h_count gauge\n# EOF\n", OM, 3, 1,
                          "clashes with family h"}));

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

// A sample with n labels: l0="v0",...; `dup` > 0 repeats l0 as label number dup.
std::string many_labels(size_t n, size_t dup = 0) {
  std::string s = "wide{";
  for (size_t k = 0; k < n; ++k) {
    if (k) s += ',';
    size_t name = k == dup && dup > 0 ? 0 : k;
    s += "l" + std::to_string(name) + "=\"v" + std::to_string(k) + (k % 7 == 0 ? "\\\"q" : "") + "\"";
  }
  return s + "} 1\n";
}

ExpositionLimits wide_limits() {
  ExpositionLimits l;
  l.max_labels_per_sample = 200'000;
  l.max_line_length = 16 << 20;
  return l;
}

// The duplicate-label check is linear: 100k labels parse at once (the old
// pairwise check took 12-14 s), and a duplicate is still found wherever it is.
TEST(Exposition, HundredThousandLabelsAreCheckedForDuplicatesInLinearTime) {
  const size_t n = 100'000;
  ExpositionParser parser(wide_limits());
  Collector c;
  auto ok = parser.parse(many_labels(n), T, c);
  ASSERT_TRUE(ok) << ok.error().str();
  ASSERT_EQ(c.samples.size(), 1u);
  ASSERT_EQ(c.samples[0].labels.size(), n);
  EXPECT_EQ(c.samples[0].labels[n - 1].first, "l99999");
  EXPECT_EQ(c.samples[0].labels[7].second, "v7\"q");  // escaped values still unescaped
  EXPECT_EQ(c.samples[0].labels[8].second, "v8");

  std::string text = many_labels(n, n - 1);
  auto bad = parser.parse(text, T, c);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().line, 1);
  EXPECT_EQ(static_cast<size_t>(bad.error().column), text.rfind(",l0=") + 2) << bad.error().str();
  EXPECT_NE(bad.error().message.find("duplicate label name l0"), std::string::npos);

  // The same parser after a wide sample: short label sets and sets just past
  // the linear scan are judged on their own labels only.
  for (size_t k : {3u, 16u, 17u, 40u}) {
    Collector again;
    auto r = parser.parse("a{l0=\"x\"} 1\n" + many_labels(k) + "b{l1=\"y\",l2=\"z\"} 2\n", T, again);
    ASSERT_TRUE(r) << k << ": " << r.error().str();
    EXPECT_EQ(again.samples.size(), 3u);
    auto dup = parser.parse(many_labels(k, k - 1), T, again);
    ASSERT_FALSE(dup) << k;
    EXPECT_NE(dup.error().message.find("duplicate label name l0"), std::string::npos) << dup.error().str();
  }
}

TEST(Exposition, OpenMetricsHistogramWithManyBucketsAndFamilies) {
  std::string om;
  for (int f = 0; f < 20'000; ++f) om += "# TYPE g" + std::to_string(f) + " gauge\ng" + std::to_string(f) + " 1\n";
  om += "# TYPE h histogram\n";
  for (int b = 0; b < 50'000; ++b) om += "h_bucket{le=\"" + std::to_string(b) + "\"} " + std::to_string(b) + "\n";
  om += "h_bucket{le=\"+Inf\"} 50000\nh_count 50000\nh_sum 7\n# EOF\n";
  auto r = parse(om, OM);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->size(), 20'000u + 50'003u);
}

// A family's series must be contiguous across all of it: a series seen again
// after 100k others is caught on its line, wherever it was first (in the
// first few, in an increasing run, among unordered ones), and a parser kept
// across parses forgets the last parse's series (no false "appears twice").
TEST(Exposition, OpenMetricsSeriesRepeatedAfterHundredThousandOthersIsCaught) {
  const int n = 100'000;
  // Sorted: p000000 < p000001 < ... (increasing keys); unsorted: p0, p1, ..., p10.
  auto series = [](int i, bool sorted) {
    std::string id = std::to_string(i);
    if (sorted) id = std::string(6 - id.size(), '0') + id;
    return "m_total{pod=\"p" + id + "\",code=\"200\"} " + std::to_string(i) + "\n";
  };
  auto family = [&](bool sorted, int repeat) {
    std::string om = "# TYPE m counter\n";
    for (int i = 0; i < n; ++i) om += series(i, sorted);
    if (repeat >= 0) om += series(repeat, sorted);
    return om + "# TYPE other counter\nother_total{pod=\"p1\",code=\"200\"} 1\n# EOF\n";
  };
  ExpositionParser parser;
  for (bool sorted : {true, false}) {
    for (int repeat : {-1, 0, 5, 15, 16, 17, 4'321, n - 2}) {
      Collector c;
      auto r = parser.parse(family(sorted, repeat), OM, c);
      if (repeat < 0) {
        ASSERT_TRUE(r) << sorted << ": " << r.error().str();
        EXPECT_EQ(c.samples.size(), static_cast<size_t>(n) + 1);
        continue;
      }
      ASSERT_FALSE(r) << "sorted=" << sorted << " repeat=" << repeat;
      EXPECT_EQ(r.error().line, n + 2) << r.error().str();
      EXPECT_NE(r.error().message.find("series of m_total appears twice"), std::string::npos) << r.error().str();
      EXPECT_EQ(c.samples.size(), static_cast<size_t>(n)) << "the repeated sample is not handed out";
    }
  }
  // The same label set in another family, or in the next parse, is no repeat.
  Collector c;
  auto small = parser.parse("# TYPE a counter\na_total{pod=\"p0\",code=\"200\"} 1\n# TYPE b counter\n"
                            "b_total{pod=\"p0\",code=\"200\"} 1\n# EOF\n",
                            OM, c);
  ASSERT_TRUE(small) << small.error().str();
  // The last sample's series repeated right away is a later point, not a repeat.
  auto point = parser.parse("# TYPE m counter\n" + series(0, false) + series(1, false) + series(1, false) + "# EOF\n", OM, c);
  ASSERT_FALSE(point);
  EXPECT_NE(point.error().message.find("repeats without timestamps"), std::string::npos) << point.error().str();
}

// Repeated points of one series (same name, le and quantile) carry increasing
// timestamps, also in a series with more points than the scanned few and
// after many series in the family.
TEST(Exposition, OpenMetricsRepeatedPointsWithTimestamps) {
  auto histogram = [](int buckets, int series, std::string_view second_ts) {
    std::string om = "# TYPE h histogram\n";
    for (int s = 0; s < series; ++s) {
      std::string lbl = "s=\"" + std::to_string(s) + "\",";
      for (std::string_view ts : {std::string_view("1"), second_ts}) {
        std::string at = ts.empty() ? "" : " " + std::string(ts);
        for (int b = 0; b < buckets; ++b)
          om += "h_bucket{" + lbl + "le=\"" + std::to_string(b) + "\"} " + std::to_string(b) + at + "\n";
        om += "h_bucket{" + lbl + "le=\"+Inf\"} " + std::to_string(buckets) + at + "\n";
        om += "h_count{" + lbl.substr(0, lbl.size() - 1) + "} " + std::to_string(buckets) + at + "\n";
        om += "h_sum{" + lbl.substr(0, lbl.size() - 1) + "} 3" + at + "\n";
      }
    }
    return om + "# EOF\n";
  };
  ExpositionParser parser;
  for (int buckets : {2, 40}) {
    for (int series : {1, 3'000}) {
      Collector c;
      auto ok = parser.parse(histogram(buckets, series, "2"), OM, c);
      ASSERT_TRUE(ok) << buckets << "x" << series << ": " << ok.error().str();
      EXPECT_EQ(c.samples.size(), static_cast<size_t>(series) * 2 * (buckets + 3));
      ASSERT_TRUE(c.samples.back().ts);
      EXPECT_EQ(*c.samples.back().ts, 2);
      auto same = parser.parse(histogram(buckets, series, "1"), OM, c);  // equal timestamps: not decreasing
      EXPECT_TRUE(same) << same.error().str();
      auto back = parser.parse(histogram(buckets, series, "0.5"), OM, c);
      ASSERT_FALSE(back) << buckets << "x" << series;
      EXPECT_NE(back.error().message.find("timestamps of h_bucket must not decrease"), std::string::npos)
          << back.error().str();
      EXPECT_EQ(back.error().line, buckets + 5) << back.error().str();  // the first repeated bucket
      auto bare = parser.parse(histogram(buckets, series, ""), OM, c);
      ASSERT_FALSE(bare);
      EXPECT_NE(bare.error().message.find("h_bucket repeats without timestamps"), std::string::npos)
          << bare.error().str();
    }
  }
}

// Every limit stops the parse with line:column and names its key.
struct Over {
  std::string text;
  ExpositionLimits limits;
  int line, column;
  std::string_view limit;
};
TEST(Exposition, LimitsAreClearErrors) {
  auto with = [](auto set) {
    ExpositionLimits l;
    set(l);
    return l;
  };
  std::vector<Over> cases = {
      {"ok 1\na{x=\"1\",y=\"2\",z=\"3\"} 1\n", with([](auto& l) { l.max_labels_per_sample = 2; }), 2, 15,
       "max_labels_per_sample"},
      {"a{abcdef=\"1\"} 1\n", with([](auto& l) { l.max_label_name_length = 5; }), 1, 3, "max_label_name_length"},
      {"a{b=\"12\\\\345\"} 1\n", with([](auto& l) { l.max_label_value_length = 5; }), 1, 5, "max_label_value_length"},
      {"a 1\nb 2\n# c\nc 3\n", with([](auto& l) { l.max_series = 2; }), 4, 1, "max_series"},
      {"a 1\nlong_name 2\n", with([](auto& l) { l.max_line_length = 8; }), 2, 9, "max_line_length"},
  };
  for (const auto& o : cases) {
    Collector c;
    auto r = parse_exposition(o.text, T, c, o.limits);
    ASSERT_FALSE(r) << o.limit;
    EXPECT_EQ(r.error().line, o.line) << r.error().str();
    EXPECT_EQ(r.error().column, o.column) << r.error().str();
    EXPECT_EQ(r.error().limit, o.limit);
    EXPECT_NE(r.error().message.find(o.limit), std::string::npos) << r.error().str();
  }
  // At the limit is fine; the defaults are bounded.
  Collector c;
  EXPECT_TRUE(parse_exposition("a{x=\"1\",y=\"2\"} 1\n", T, c, with([](auto& l) { l.max_labels_per_sample = 2; })));
  ExpositionLimits d;
  EXPECT_GT(d.max_labels_per_sample, 0u);
  EXPECT_LE(d.max_labels_per_sample, 10'000u);
  EXPECT_LE(d.max_line_length, size_t{64} << 20);
  auto too_wide = parse_exposition(many_labels(d.max_labels_per_sample + 1), T, c);
  ASSERT_FALSE(too_wide);
  EXPECT_EQ(too_wide.error().limit, "max_labels_per_sample");
}

// Values are read exactly as strtod reads them (the common short forms take a
// fast path; it must round the same way).
TEST(Exposition, ValuesRoundLikeStrtod) {
  std::mt19937_64 rng(7);
  std::vector<std::string> texts = {"0", "-0", "1027", "0.1", "0.3", "12.5e-1", "1e22", "1e23", "9007199254740992",
                                    "9007199254740993", "123456789012345678901", "0.000001", "17.000000", "+5",
                                    "-2.5E+3", "3.14159265358979", "1e-22", "4.9e-324", "1.7976931348623157e308"};
  for (int k = 0; k < 20'000; ++k) {
    std::string t = std::to_string(rng() % 100'000'000'000ull);
    size_t dot = rng() % (t.size() + 1);
    if (dot < t.size()) t.insert(dot ? dot : 1, ".");
    if (t.back() == '.') t += '5';
    if (rng() % 3 == 0) t += "e" + std::to_string(static_cast<int>(rng() % 60) - 30);
    texts.push_back(t);
  }
  for (const auto& t : texts) {
    Collector c;
    auto r = parse_exposition("a " + t + "\n", T, c);
    ASSERT_TRUE(r) << t << ": " << r.error().str();
    double want = std::strtod(t.c_str(), nullptr);
    EXPECT_EQ(c.samples.at(0).value, want) << t;
    EXPECT_EQ(std::signbit(c.samples.at(0).value), std::signbit(want)) << t;
  }
}

TEST(Exposition, ContentTypePicksTheFormat) {
  EXPECT_EQ(format_from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"), OM);
  EXPECT_EQ(format_from_content_type("text/plain; version=0.0.4"), T);
  EXPECT_EQ(format_from_content_type(""), T);
}

}  // namespace
}  // namespace dg
