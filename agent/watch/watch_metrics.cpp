#include "agent/watch/watch_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <utility>

namespace dg {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// A probe's run: a TCP connect on loopback takes under a millisecond, a slow
// HTTP check several seconds; timeouts are at most tens of seconds.
const Histogram::BucketBoundaries kProbeBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,    1,     2.5,  5,     10};
// Detection and mitigation: from a tick or two (seconds) to a ladder that
// escalated through a rollback (tens of minutes).
const Histogram::BucketBoundaries kIncidentBuckets = {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

template <class T>
Family<T>& family(prometheus::detail::Builder<T> builder, prometheus::Registry& r, const char* name,
                  const char* help) {
  return builder.Name(name).Help(help).Register(r);
}

}  // namespace

struct WatchMetrics::Impl {
  prometheus::Registry registry;

  Family<Counter>& probe_results = family(prometheus::BuildCounter(), registry, "deployguard_probe_results_total",
                                          "Probe runs by probe and outcome (passed, failed, error).");
  Family<Histogram>& probe_duration = family(prometheus::BuildHistogram(), registry,
                                             "deployguard_probe_duration_seconds", "How long each probe run took.");
  Family<Gauge>& policy_states =
      family(prometheus::BuildGauge(), registry, "deployguard_policy_state",
             "A policy's remediation state: 1 for the current state, 0 for the others.");
  Family<Counter>& observations = family(prometheus::BuildCounter(), registry, "deployguard_observations_total",
                                         "Observations judged, by outcome (probe runs and metric readings).");
  Family<Counter>& actions = family(prometheus::BuildCounter(), registry, "deployguard_actions_total",
                                    "Remediation actions taken, by kind and outcome.");
  Gauge& incidents_open = family(prometheus::BuildGauge(), registry, "deployguard_incidents_open",
                                 "Incidents opened and not yet resolved.")
                              .Add({});
  Counter& journal_records = family(prometheus::BuildCounter(), registry, "deployguard_journal_records_written_total",
                                    "Records appended to the journal by this process.")
                                 .Add({});
  Gauge& journal_head = family(prometheus::BuildGauge(), registry, "deployguard_journal_head_seq",
                               "Sequence number of the journal's last record.")
                            .Add({});
  Histogram& time_to_detect = family(prometheus::BuildHistogram(), registry, "deployguard_time_to_detect_seconds",
                                     "From the first failing observation to the trip.")
                                  .Add({}, kIncidentBuckets);
  Histogram& time_to_mitigate = family(prometheus::BuildHistogram(), registry, "deployguard_time_to_mitigate_seconds",
                                       "From the trip to the confirmed recovery.")
                                    .Add({}, kIncidentBuckets);
  Family<Counter>& overruns = family(prometheus::BuildCounter(), registry, "deployguard_scheduler_overruns_total",
                                     "Ticks skipped because the signal's previous run was still in flight.");
  Family<Counter>& reloads = family(prometheus::BuildCounter(), registry, "deployguard_config_reloads_total",
                                    "Configuration reloads by result (success, failure).");
  Counter& reload_success = reloads.Add({{"result", "success"}});
  Counter& reload_failure = reloads.Add({{"result", "failure"}});
  Gauge& reload_timestamp =
      family(prometheus::BuildGauge(), registry, "deployguard_config_last_reload_success_timestamp_seconds",
             "When the configuration was last loaded successfully, seconds since the epoch.")
          .Add({});
  Gauge& reload_ok = family(prometheus::BuildGauge(), registry, "deployguard_config_last_reload_successful",
                            "Whether the last configuration reload succeeded (1) or not (0).")
                         .Add({});
  Family<Gauge>& sinks_down = family(prometheus::BuildGauge(), registry, "deployguard_incident_sink_down",
                                     "1 while an incident sink is marked down (its deliveries keep failing).");
  Family<Counter>& sink_downs = family(prometheus::BuildCounter(), registry, "deployguard_incident_sink_down_total",
                                       "Times an incident sink was marked down.");
  Family<Gauge>& build_info = family(prometheus::BuildGauge(), registry, "deployguard_build_info",
                                     "Always 1; the version is in the label.");

  // Series by name, so that forgetting one never creates it first, and a
  // hot update is one lookup instead of a label-map hash in the family.
  struct ProbeSeries {
    std::array<Counter*, 3> results{};  // by Outcome
    Histogram* duration = nullptr;
  };
  std::mutex mu;
  std::map<std::string, ProbeSeries, std::less<>> probes;
  std::map<std::string, std::array<Gauge*, kPolicyStates.size()>, std::less<>> policies;
  std::map<std::string, Counter*, std::less<>> observation_series;
  std::map<std::string, Counter*, std::less<>> overrun_series;
  std::map<std::pair<std::string, std::string>, Counter*> action_series;

  ProbeSeries& probe(std::string_view name) {
    auto it = probes.find(name);
    if (it != probes.end()) return it->second;
    ProbeSeries s;
    // Every outcome from the start, so rate() sees the first failure as a rise from 0.
    for (auto o : {Outcome::Passed, Outcome::Failed, Outcome::Error})
      s.results[static_cast<size_t>(o)] = &probe_results.Add({{"probe", std::string(name)}, {"outcome", to_string(o)}});
    s.duration = &probe_duration.Add({{"probe", std::string(name)}}, kProbeBuckets);
    return probes.emplace(std::string(name), s).first->second;
  }

  template <class Map, class Make>
  static auto& series(Map& map, std::string_view key, Make make) {
    auto it = map.find(key);
    if (it == map.end()) it = map.emplace(std::string(key), make()).first;
    return *it->second;
  }
};

WatchMetrics::WatchMetrics(std::string_view version) : impl_(std::make_unique<Impl>()) {
  impl_->build_info.Add({{"version", std::string(version)}}).Set(1);
}

WatchMetrics::~WatchMetrics() = default;

void WatchMetrics::probe_result(std::string_view probe, Outcome outcome, Duration latency) {
  std::lock_guard lock(impl_->mu);
  auto& s = impl_->probe(probe);
  s.results[static_cast<size_t>(outcome)]->Increment();
  s.duration->Observe(seconds(latency));
}

void WatchMetrics::observation(std::string_view outcome) {
  std::lock_guard lock(impl_->mu);
  Impl::series(impl_->observation_series, outcome, [&] {
    return &impl_->observations.Add({{"outcome", std::string(outcome)}});
  }).Increment();
}

bool WatchMetrics::policy_state(std::string_view policy, std::string_view state) {
  auto current = std::ranges::find(kPolicyStates, state);
  if (current == kPolicyStates.end()) return false;
  std::lock_guard lock(impl_->mu);
  auto it = impl_->policies.find(policy);
  if (it == impl_->policies.end()) {
    std::array<Gauge*, kPolicyStates.size()> gauges{};
    for (size_t i = 0; i < kPolicyStates.size(); ++i)
      gauges[i] = &impl_->policy_states.Add({{"policy", std::string(policy)}, {"state", std::string(kPolicyStates[i])}});
    it = impl_->policies.emplace(std::string(policy), gauges).first;
  }
  // Under the lock: a scrape between two sets may see two states at 0 (the
  // serializer does not take our lock), never two at 1 from racing writers.
  size_t at = static_cast<size_t>(current - kPolicyStates.begin());
  for (size_t i = 0; i < kPolicyStates.size(); ++i)
    if (i != at) it->second[i]->Set(0);
  it->second[at]->Set(1);
  return true;
}

void WatchMetrics::action(std::string_view kind, std::string_view outcome) {
  std::lock_guard lock(impl_->mu);
  auto key = std::make_pair(std::string(kind), std::string(outcome));
  auto it = impl_->action_series.find(key);
  if (it == impl_->action_series.end())
    it = impl_->action_series.emplace(key, &impl_->actions.Add({{"kind", key.first}, {"outcome", key.second}})).first;
  it->second->Increment();
}

void WatchMetrics::incidents_open(int64_t count) { impl_->incidents_open.Set(static_cast<double>(count)); }

void WatchMetrics::incident_sink_down(std::string_view sink, bool down) {
  std::lock_guard lock(impl_->mu);
  impl_->sinks_down.Add({{"sink", std::string(sink)}}).Set(down ? 1 : 0);
  if (down) impl_->sink_downs.Add({{"sink", std::string(sink)}}).Increment();
}

void WatchMetrics::journal_record_written(uint64_t head_seq) {
  impl_->journal_records.Increment();
  impl_->journal_head.Set(static_cast<double>(head_seq));
}

void WatchMetrics::time_to_detect(Duration d) { impl_->time_to_detect.Observe(seconds(d)); }
void WatchMetrics::time_to_mitigate(Duration d) { impl_->time_to_mitigate.Observe(seconds(d)); }

void WatchMetrics::scheduler_overrun(std::string_view signal) {
  std::lock_guard lock(impl_->mu);
  Impl::series(impl_->overrun_series, signal, [&] {
    return &impl_->overruns.Add({{"signal", std::string(signal)}});
  }).Increment();
}

void WatchMetrics::config_reload(bool ok, TimePoint wall) {
  std::lock_guard lock(impl_->mu);
  (ok ? impl_->reload_success : impl_->reload_failure).Increment();
  impl_->reload_ok.Set(ok ? 1 : 0);
  if (ok) impl_->reload_timestamp.Set(std::chrono::duration<double>(wall.time_since_epoch()).count());
}

void WatchMetrics::forget_probe(std::string_view probe) {
  forget_signal(probe);
  std::lock_guard lock(impl_->mu);
  auto it = impl_->probes.find(probe);
  if (it == impl_->probes.end()) return;
  for (auto* c : it->second.results) impl_->probe_results.Remove(c);
  impl_->probe_duration.Remove(it->second.duration);
  impl_->probes.erase(it);
}

void WatchMetrics::forget_policy(std::string_view policy) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->policies.find(policy);
  if (it == impl_->policies.end()) return;
  for (auto* g : it->second) impl_->policy_states.Remove(g);
  impl_->policies.erase(it);
}

void WatchMetrics::forget_signal(std::string_view signal) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->overrun_series.find(signal);
  if (it == impl_->overrun_series.end()) return;
  impl_->overruns.Remove(it->second);
  impl_->overrun_series.erase(it);
}

std::string WatchMetrics::text() const {
  return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

}  // namespace dg
