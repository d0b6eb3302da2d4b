#pragma once
/// MetricReading: one answer from a metric source, and the queries that ask
/// for it. Plain data shared by the sources (probes/metrics) and the pure
/// policy evaluator.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/regex.h"

namespace dg {

using Labels = std::vector<std::pair<std::string, std::string>>;  ///< sorted by name

/// `{a="1",b="2"}`, the key of a series in readings and evidence.
std::string labels_key(const Labels& labels);

struct SeriesValue {
  Labels labels;
  double value = 0;
};

enum class ReadingStatus { Ok, NoData, Error };
const char* to_string(ReadingStatus s);

struct MetricReading {
  std::string signal;  ///< the condition this reading feeds
  TimePoint at{};
  ReadingStatus status = ReadingStatus::Error;
  std::vector<SeriesValue> series;  ///< Ok: finite values only
  std::string detail;               ///< why no data / what failed
  std::vector<std::string> warnings;
  std::string query;                ///< what was asked, for evidence
};

/// Selects series from a scraped exposition: name plus label matchers.
struct LabelMatcher {
  std::string name;
  enum class Op { Eq, Ne, Re, NotRe } op = Op::Eq;
  std::string value;
  std::optional<Regex> re;  ///< compiled at load for Re/NotRe (fully anchored)
  bool matches(std::string_view v) const;
};

/// What to compute from a scraped family.
struct ScrapeQuery {
  std::string metric;
  std::vector<LabelMatcher> matchers;
  enum class Function { Value, Rate, Quantile } function = Function::Value;
  Duration window{60'000};  ///< rate window
  double quantile = 0.99;   ///< for Quantile (from _bucket series)
  std::vector<std::string> by;  ///< sum by these labels; empty = sum everything into one series
};

struct MetricQuery {
  std::string promql;  ///< prometheus sources
  ScrapeQuery scrape;  ///< scrape sources
  std::string text() const;
};

}  // namespace dg
