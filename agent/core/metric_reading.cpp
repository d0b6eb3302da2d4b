#include "agent/core/metric_reading.h"

#include <fmt/format.h>

#include "agent/core/text.h"

namespace dg {

std::string labels_key(const Labels& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

const char* to_string(ReadingStatus s) {
  switch (s) {
    case ReadingStatus::Ok: return "ok";
    case ReadingStatus::NoData: return "no_data";
    case ReadingStatus::Error: return "error";
  }
  return "?";
}

bool LabelMatcher::matches(std::string_view v) const {
  switch (op) {
    case Op::Eq: return v == value;
    case Op::Ne: return v != value;
    // A value the regex cannot be applied to (too complex) matches nothing.
    case Op::Re: return re && re->full_match(v).value_or(false);
    case Op::NotRe: return !(re && re->full_match(v).value_or(true));
  }
  return false;
}

std::string MetricQuery::text() const {
  if (!promql.empty()) return promql;
  std::vector<std::string> m;
  static const char* ops[] = {"=", "!=", "=~", "!~"};
  for (const auto& x : scrape.matchers) m.push_back(fmt::format("{}{}\"{}\"", x.name, ops[static_cast<int>(x.op)], x.value));
  std::string sel = scrape.metric + (m.empty() ? "" : "{" + text::join(m, ",") + "}");
  std::string by = scrape.by.empty() ? "" : " by (" + text::join(scrape.by, ",") + ")";
  switch (scrape.function) {
    case ScrapeQuery::Function::Value: return fmt::format("sum{}({})", by, sel);
    case ScrapeQuery::Function::Rate:
      return fmt::format("sum{}(rate({}[{}ms]))", by, sel, scrape.window.count());
    case ScrapeQuery::Function::Quantile:
      return fmt::format("quantile {} of {}_bucket{}", scrape.quantile, sel, by);
  }
  return sel;
}

}  // namespace dg
