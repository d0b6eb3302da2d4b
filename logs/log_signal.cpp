#include "logs/log_signal.h"

#include <fmt/format.h>

#include <mutex>
#include <set>

#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "logs/pipeline.h"

namespace dg::logs {
namespace {

class LogSignalSource final : public MetricSource {
 public:
  LogSignalSource(LogSourceSpec spec, std::map<std::string, LogConditionSpec> conditions)
      : spec_(std::move(spec)), conditions_(std::move(conditions)) {
    for (const auto& [q, c] : conditions_) keep_ = std::max(keep_, c.windows.baseline + c.windows.judged());
    keep_ += std::chrono::minutes(1);
  }

  void release_started(const std::string& service, TimePoint at) override {
    std::lock_guard lock(mu_);
    if (!services_.empty() && !services_.contains(service)) return;
    announced_ = std::chrono::time_point_cast<std::chrono::seconds>(at) + std::chrono::seconds(1);
    if (source_) release_ = *announced_;
  }

  std::optional<std::string> state() {
    std::lock_guard lock(mu_);
    if (pipeline_) return pipeline_->checkpoint();
    return restored_;
  }
  void restore(std::string state) {
    std::lock_guard lock(mu_);
    if (pipeline_) (void)pipeline_->restore(state);
    else restored_ = std::move(state);
  }
  void add_service(const std::string& s) { services_.insert(s); }

  MetricReading read(const MetricQuery& query, const Clock& clock, std::optional<TimePoint>) override {
    std::lock_guard lock(mu_);
    MetricReading r;
    r.at = clock.now();
    r.query = query.text();
    auto it = conditions_.find(query.promql);
    if (it == conditions_.end()) {
      r.detail = "no such log condition";
      return r;
    }
    if (auto ok = ensure_open(clock); !ok) {
      r.detail = ok.error().message;
      return r;
    }
    // Everything the source has now: a poll never blocks.
    std::vector<LogLine> lines;
    for (int rounds = 0; rounds < 100; ++rounds) {
      lines.clear();
      auto n = source_->poll(lines, 10'000);
      if (!n) {
        r.detail = fmt::format("log source {}: {}", spec_.name, n.error().message);
        return r;
      }
      TimePoint now = clock.now(), wall = clock.wall();
      for (const auto& l : lines) pipeline_->ingest(l, now, wall);
      if (*n < 10'000) break;
    }
    pipeline_->prune(clock.now());
    const LogConditionSpec& c = it->second;
    LogWindows w = c.windows;
    w.release = release_;
    LogJudgement j = c.kind == "new_signature" ? judge_new_signature(c.fresh, pipeline_->tally(), w, r.at)
                     : c.kind == "surge"       ? judge_surge(c.surge, pipeline_->tally(), w, r.at)
                                               : judge_error_share(c.share, pipeline_->tally(), w, r.at);
    r.detail = detail_of(j);
    if (j.state == LogJudgement::State::NoData) {
      r.status = ReadingStatus::NoData;
      return r;
    }
    r.status = ReadingStatus::Ok;
    r.series.push_back({{}, j.state == LogJudgement::State::Tripped ? 1.0 : 0.0});
    return r;
  }

 private:
  Result<void> ensure_open(const Clock& clock) {
    if (source_) return {};
    LogSourceRegistry registry;
    register_builtin_log_sources(registry);
    auto s = registry.make(spec_, clock);
    if (!s) return fail(fmt::format("log source {}: {}", spec_.name, s.error().message));
    auto p = LogPipeline::make(spec_.header, spec_.miner, keep_);
    if (!p) return fail(fmt::format("log source {}: {}", spec_.name, p.error().message));
    TimePoint now = clock.now();
    Duration longest{0};
    for (const auto& [q, c] : conditions_) longest = std::max(longest, c.windows.baseline);
    // The release starts at the next whole second: all that was there at
    // open, and what arrives within this second, is baseline (unless a
    // release was announced before the first read).
    release_ = announced_.value_or(std::chrono::time_point_cast<std::chrono::seconds>(now) + std::chrono::seconds(1));
    if (auto o = (*s)->open(std::min(now, release_) - longest); !o)
      return fail(fmt::format("log source {}: {}", spec_.name, o.error().message));
    source_ = std::move(*s);
    pipeline_.emplace(std::move(*p));
    if (restored_) {
      // Signatures keep their ids across the restart; a state that does not fit starts fresh.
      (void)pipeline_->restore(*restored_);
      restored_.reset();
    }
    return {};
  }

  static std::string detail_of(const LogJudgement& j) {
    std::string d = j.reason;
    if (!j.findings.empty()) {
      const LogEvidence& e = j.findings.front();
      if (e.first_seen) d += fmt::format("; first seen {}", text::rfc3339(*e.first_seen));
      if (!e.examples.empty()) d += "; e.g. " + secrets::excerpt(e.examples.back(), 160);
      for (size_t k = 1; k < j.findings.size() && k < 3; ++k) d += "; also " + j.findings[k].describe();
    }
    for (size_t k = 0; k < j.info.size() && k < 2; ++k) d += "; info: " + j.info[k].describe();
    return d;
  }

  LogSourceSpec spec_;
  std::map<std::string, LogConditionSpec> conditions_;  ///< by query text
  Duration keep_{0};
  std::mutex mu_;
  std::unique_ptr<LogSource> source_;
  std::optional<LogPipeline> pipeline_;
  TimePoint release_{};
  std::optional<TimePoint> announced_;     ///< the last release announced for its services
  std::optional<std::string> restored_;    ///< a checkpoint's miner state, until the source opens
  std::set<std::string> services_;         ///< of the policies whose conditions it serves
};

}  // namespace

void add_log_signal_sources(const std::vector<LogSourceSpec>& sources, const std::vector<PolicySpec>& policies,
                            std::map<std::string, std::unique_ptr<MetricSource>>& out) {
  for (const auto& s : sources) {
    std::string key = std::string(kLogSignalPrefix) + s.name;
    std::map<std::string, LogConditionSpec> conditions;
    for (const auto& p : policies)
      for (const auto& m : p.metrics)
        if (m.source == key)
          if (const auto* c = m.log.get<LogConditionSpec>()) conditions.emplace(m.query.promql, *c);
    if (conditions.empty()) continue;
    auto src = std::make_unique<LogSignalSource>(s, std::move(conditions));
    for (const auto& p : policies)
      for (const auto& m : p.metrics)
        if (m.source == key && !p.service.empty()) src->add_service(p.service);
    out[key] = std::move(src);
  }
}

std::vector<std::pair<std::string, std::string>> log_signal_states(const std::map<std::string, std::unique_ptr<MetricSource>>& sources) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, s] : sources)
    if (auto* l = dynamic_cast<LogSignalSource*>(s.get()))
      if (auto st = l->state()) out.emplace_back(name, std::move(*st));
  return out;
}

void restore_log_signal_states(std::map<std::string, std::unique_ptr<MetricSource>>& sources,
                               const std::vector<std::pair<std::string, std::string>>& states) {
  for (const auto& [name, state] : states)
    if (auto it = sources.find(name); it != sources.end())
      if (auto* l = dynamic_cast<LogSignalSource*>(it->second.get())) l->restore(state);
}

}  // namespace dg::logs
