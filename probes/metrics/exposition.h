#pragma once
/// Parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.
/// Strict where the formats are strict: the first problem stops the parse and
/// is reported with its line and column. Never crashes on any input.
///
/// Samples are handed to a visitor as views into the input (label values with
/// escapes are unescaped into a reused buffer), so a steady-state parse
/// allocates nothing per sample; only new family names allocate. Time is
/// linear in the input. Not thread-safe per parser.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg {

enum class ExpositionFormat { Text004, OpenMetrics };

/// Picks the format from a Content-Type header value (0.0.4 when unclear).
ExpositionFormat format_from_content_type(std::string_view content_type);

struct LabelView {
  std::string_view name;
  std::string_view value;  ///< unescaped; valid until the visitor returns
};

struct SampleView {
  std::string_view name;    ///< full sample name, e.g. http_requests_total, x_bucket
  std::string_view family;  ///< the family it belongs to (the TYPE name), or the name itself
  std::string_view type;    ///< "counter", "histogram", ... or "untyped"/"unknown"
  std::span<const LabelView> labels;
  double value = 0;
  std::optional<double> timestamp;  ///< seconds (0.0.4 milliseconds are converted)
};

class ExpositionVisitor {
 public:
  virtual ~ExpositionVisitor() = default;
  virtual void on_sample(const SampleView& sample) = 0;
};

/// Bounds on one exposition, so that a hostile or broken target costs bounded
/// work. Each is checked while parsing and stops it with an error naming the
/// limit. Prometheus' scrape config has the same knobs (label_limit,
/// label_name_length_limit, label_value_length_limit, sample_limit) but
/// unbounded by default; these defaults are far above real expositions.
struct ExpositionLimits {
  size_t max_labels_per_sample = 512;
  size_t max_label_name_length = 1024;    ///< bytes
  size_t max_label_value_length = 16384;  ///< bytes, after unescaping
  size_t max_series = 1'000'000;          ///< samples in one exposition
  size_t max_line_length = 1 << 20;       ///< bytes, newline excluded
};

struct ExpositionError {
  int line = 0;
  int column = 0;
  std::string message;
  std::string_view limit;  ///< the ExpositionLimits field that was exceeded, else empty
  std::string str() const;
};

struct ExpositionStats {
  size_t lines = 0;
  size_t samples = 0;
  size_t families = 0;
};

/// A parser kept across parses (one per scraped target): names it has seen are
/// remembered, so parsing the same exposition again allocates nothing.
class ExpositionParser {
 public:
  explicit ExpositionParser(ExpositionLimits limits = {});
  ~ExpositionParser();
  std::expected<ExpositionStats, ExpositionError> parse(std::string_view text, ExpositionFormat format,
                                                        ExpositionVisitor& visitor);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// One-off parse.
std::expected<ExpositionStats, ExpositionError> parse_exposition(std::string_view text, ExpositionFormat format,
                                                                 ExpositionVisitor& visitor,
                                                                 const ExpositionLimits& limits = {});

}  // namespace dg
