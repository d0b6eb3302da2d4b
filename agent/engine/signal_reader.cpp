#include "agent/engine/signal_reader.h"

#include <fmt/format.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/text.h"

namespace dg {
namespace {

double total(const MetricReading& r) {
  double sum = 0;
  for (const auto& s : r.series) sum += s.value;
  return sum;
}

std::vector<const MetricQuery*> queries_of(const MetricCondition& c) {
  switch (c.kind) {
    case MetricCondition::Kind::Compare: return {&c.query, &c.baseline_query};
    case MetricCondition::Kind::Canary: return {&c.canary_errors, &c.canary_total, &c.baseline_errors, &c.baseline_total};
    default: return {&c.query};
  }
}

// One look from its queries' answers (in queries_of order).
MetricReading combine(const MetricCondition& c, std::vector<MetricReading> raw, TimePoint at) {
  if (c.kind == MetricCondition::Kind::Threshold || c.kind == MetricCondition::Kind::Baseline) {
    MetricReading r = std::move(raw[0]);
    r.signal = c.id;
    return r;
  }
  if (c.kind == MetricCondition::Kind::Compare) {
    // Two values, one per arm, in one reading: the judge compares them.
    MetricReading &canary = raw[0], &base = raw[1];
    MetricReading out = canary;
    out.signal = c.id;
    out.query = c.query.text() + " | " + c.baseline_query.text();
    out.warnings.insert(out.warnings.end(), base.warnings.begin(), base.warnings.end());
    for (const MetricReading* r : {&canary, &base}) {
      if (r->status != ReadingStatus::Ok) {
        out.status = r->status;
        out.detail = fmt::format("{}: {}", r == &canary ? "canary" : "baseline", r->detail);
        out.series.clear();
        return out;
      }
    }
    out.series = {{{{"arm", "canary"}}, total(canary)}, {{{"arm", "baseline"}}, total(base)}};
    return out;
  }
  static const char* arms[4] = {"canary errors", "canary traffic", "baseline errors", "baseline traffic"};
  auto queries = queries_of(c);
  MetricReading out{.signal = c.id, .at = at};
  std::vector<std::string> texts;
  for (int i = 0; i < 4; ++i) {
    const MetricReading& r = raw[i];
    texts.push_back(queries[i]->text());
    out.warnings.insert(out.warnings.end(), r.warnings.begin(), r.warnings.end());
    if (r.status == ReadingStatus::Error) {
      out.status = ReadingStatus::Error;
      out.detail = fmt::format("{}: {}", queries[i]->text(), r.detail);
      out.series.clear();
      return out;
    }
    // An errors query matching nothing is no data, never zero errors: a
    // typo in it must not read as a healthy canary.
    if (r.status == ReadingStatus::NoData) {
      out.status = ReadingStatus::NoData;
      out.detail = fmt::format("no {} counted yet ({}: {})", arms[i], queries[i]->text(), r.detail);
      out.series.clear();
      return out;
    }
    for (auto s : r.series) {
      s.labels.emplace_back(kArmLabel, std::to_string(i));
      out.series.push_back(std::move(s));
    }
  }
  out.status = ReadingStatus::Ok;
  out.query = text::join(texts, " | ");
  return out;
}

}  // namespace

MetricReading read_condition(MetricSource& source, const MetricCondition& c, const Clock& clock, bool parallel) {
  // The queries of one look are read at one instant: a split or a burst
  // between the reads would otherwise count in one arm only.
  TimePoint at = clock.now();
  auto queries = queries_of(c);
  std::optional<TimePoint> instant;
  if (queries.size() > 1) instant = at;
  std::vector<std::future<MetricReading>> pending;
  for (const MetricQuery* q : queries)
    pending.push_back(std::async(parallel ? std::launch::async : std::launch::deferred,
                                 [&source, q, &clock, instant] { return source.read(*q, clock, instant); }));
  std::vector<MetricReading> raw;
  for (auto& f : pending) raw.push_back(f.get());
  return combine(c, std::move(raw), at);
}

void start_read_condition(AsyncIo& io, MetricSource& source, const MetricCondition& c, const Clock& clock,
                          std::function<void(MetricReading)> done) {
  TimePoint at = clock.now();
  auto queries = queries_of(c);
  std::optional<TimePoint> instant;
  if (queries.size() > 1) instant = at;
  struct Join {
    std::vector<MetricReading> raw;
    size_t left;
    std::function<void(MetricReading)> done;
  };
  auto join = std::make_shared<Join>(Join{std::vector<MetricReading>(queries.size()), queries.size(), std::move(done)});
  for (size_t i = 0; i < queries.size(); ++i)
    source.start_read(io, *queries[i], clock, instant, [join, i, &c, at](MetricReading r) {
      join->raw[i] = std::move(r);
      if (--join->left == 0) join->done(combine(c, std::move(join->raw), at));
    });
}

MetricReading read_baseline(MetricSource& source, const MetricCondition& c, const Clock& clock, TimePoint at) {
  MetricReading r = source.read(c.query, clock, at);
  r.signal = c.id + "#baseline";
  return r;
}

void start_read_baseline(AsyncIo& io, MetricSource& source, const MetricCondition& c, const Clock& clock, TimePoint at,
                         std::function<void(MetricReading)> done) {
  source.start_read(io, c.query, clock, at, [&c, done = std::move(done)](MetricReading r) {
    r.signal = c.id + "#baseline";
    done(std::move(r));
  });
}

}  // namespace dg
