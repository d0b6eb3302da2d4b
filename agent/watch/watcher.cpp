#include "agent/watch/watcher.h"

#include "logs/log_signal.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "agent/config/config.h"
#include "agent/core/async_http.h"
#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/engine/signal_reader.h"
#include "agent/journal/journal.h"
#include "agent/runtime.h"
#include "agent/verify/reconcile.h"
#include "agent/watch/api.h"
#include "agent/watch/auth.h"
#include "agent/watch/http_listener.h"
#include "agent/watch/watch_metrics.h"

namespace dg {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr const char* kVersion = "0.1.0";

// One loaded config and the live objects built from it. Kept alive by every
// signal in flight that was started under it, so a reload never pulls a
// probe out from under its own callback.
struct Generation {
  std::shared_ptr<const Config> cfg;
  /// Each metric condition by id, with its policy's name: looked up on every read.
  std::map<std::string, std::pair<const MetricCondition*, std::string>> conditions;
  std::shared_ptr<Runtime> rt;
  std::unique_ptr<IncidentNotifier> notifier;
  uint64_t number = 0;
};

// A probe or metric condition on its own schedule.
struct Signal {
  std::string name;
  bool probe = true;
  Duration interval{1000};
  std::unique_ptr<asio::steady_timer> timer;
  TimePoint next{};  // unjittered schedule (monotonic)
  bool in_flight = false;
  bool rerun = false;  // asked for (a verification started) while in flight
  bool baseline_in_flight = false;
  uint64_t overruns = 0;
};

// What a file looked like, to notice a change without reading it.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

// A policy's definition, with the probes it runs: a reload keeps the state of
// a policy whose digest did not change.
std::string definition_of(const Config& cfg, const PolicySpec& p) {
  std::string d = p.digest;
  for (const auto& name : p.probes)
    if (const ProbeSpec* s = cfg.probe(name)) d += "|" + s->digest;
  return d;
}

class Watcher {
 public:
  Watcher(const WatchOptions& opt, Progress& log)
      : opt_(opt), log_(log), http_(loop_), io_{loop_, http_}, signals_set_(loop_, SIGTERM, SIGINT, SIGHUP),
        deadline_timer_(loop_), reload_timer_(loop_), checkpoint_timer_(loop_), watchdog_timer_(loop_),
        grace_timer_(loop_), metrics_(kVersion), rng_(std::random_device{}()) {}

  int run() {
    auto loaded = load_config(opt_.config_path);
    if (!loaded.config) {
      for (const auto& d : loaded.diagnostics) log_.event(d.str());
      return 2;
    }
    auto gen = build(std::move(*loaded.config));
    if (!gen) {
      log_.event(opt_.config_path + ": " + secrets::redact(gen.error().message));
      return 2;
    }
    const Config& cfg = *(*gen)->cfg;
    // For the reaction benchmark only (docs/benchmarks.md): the journal
    // without its fsyncs, to show what they cost. Never in production.
    std::shared_ptr<JournalIo> io;
    if (const char* v = std::getenv("DEPLOYGUARD_BENCH_JOURNAL_NO_FSYNC"); v && std::string(v) == "1") {
      struct NoFsync final : JournalIo {
        int fsync(int) override { return 0; }
      };
      io = std::make_shared<NoFsync>();
      log_.event("WARNING: DEPLOYGUARD_BENCH_JOURNAL_NO_FSYNC=1: the journal is not fsync'd (benchmarks only)");
    }
    JournalOptions jo;
    if (cfg.agent.journal_segment_size) jo.max_segment_bytes = *cfg.agent.journal_segment_size;
    auto journal = Journal::open(cfg.agent.journal, clock_, io, jo);
    if (!journal) {
      log_.event("deployguard: " + journal.error().message);
      return 2;
    }
    journal_ = std::move(*journal);
    journal_seen_ = journal_->head().seq;
    if (const auto& torn = journal_->dropped_tail())
      log_.event(fmt::format("WARNING: the journal ended in a torn record ({} byte(s) after seq {}); it was dropped "
                             "and the drop journaled",
                             torn->bytes, torn->after_seq));
    gen_ = std::move(*gen);
    gen_->notifier = std::make_unique<IncidentNotifier>(gen_->rt->sink_pointers(), *journal_, notifier_options());
    stamps_ = stamps(cfg);

    Replay replay = replay_journal(cfg);
    for (const auto& s : cfg.services) releases_[s.name] = current_release(s, replay);
    journal_->set_context({cfg.agent.service, cfg.agent.environment, releases_[cfg.agent.service], opt_.run_id});
    json::object services;
    for (const auto& s : cfg.services) services[s.name] = {{"config_release", s.release}, {"release", releases_[s.name]}};
    if (!append("config_loaded", {{"data", {{"files", files_json(cfg)}, {"digest", cfg.digest}, {"dry_run", dry_run()},
                                            {"mode", "watch"}, {"services", services}}}})) {
      return 2;
    }
    // Deliveries a dead run journaled but never made go out first, so the
    // reconciliation below sees them owed (notifier.h).
    resume_deliveries(*gen_->notifier, journal_->path(), opt_.run_id, dry_run());
    // Runs that died are reconciled once, as verify does (reconcile.h): an
    // intent without an outcome is read back, a kept flip is verified again.
    auto rec = reconcile_interrupted_runs(cfg, *gen_->rt, *journal_, *gen_->notifier, clock_,
                                          releases_[cfg.agent.service], opt_.run_id, dry_run(), log_);
    std::map<std::string, std::vector<InheritedFlip>> kept;
    for (const auto& [policy, inc] : rec.incidents) kept[policy] = inc.flips;
    make_engine(continued_incidents(rec));
    engine_->restore(replay.states, kept, replay.clean);
    logs::restore_log_signal_states(gen_->rt->metric_sources, replay.log_miners);
    for (const auto& s : cfg.services)
      if (!replay.releases.contains(s.name) || replay.releases[s.name] != releases_[s.name]) {
        // The config names a release the journal has not seen start: it starts now.
        if (!releases_[s.name].empty())
          (void)engine_->announce({.service = s.name, .release = releases_[s.name], .who = "config"});
      }

    auto listener = start_listener(cfg);
    if (!listener) {
      log_.event("deployguard: " + listener.error().message);
      return 2;
    }
    listener_ = std::move(*listener);
    schedule_all();
    arm_release_polls();
    after_engine();
    wait_signals();
    arm_reload_poll();
    arm_checkpoint();
    arm_watchdog();
    arm_heartbeat(true);
    log_.event(fmt::format("watching {} polic{} of {} service(s); API on {}://{}:{}", cfg.policies.size(),
                           cfg.policies.size() == 1 ? "y" : "ies", cfg.services.size(), cfg.watch.tls_cert.empty() ? "http" : "https",
                           cfg.watch.address, listener_->port()));
    notify("READY=1");
    notify(fmt::format("STATUS=watching {} policies", cfg.policies.size()));
    loop_.run();
    return exit_code_;
  }

 private:
  struct Replay {
    json::object states;                         // {"policies": {...}, "alarms": [...]}
    std::map<std::string, std::string> releases;  // last release_started per service
    std::map<std::string, std::string> config_releases;  // what the config said at the last start
    bool clean = true;                            // the last run stopped cleanly
    std::vector<std::pair<std::string, std::string>> log_miners;  // "log:NAME" -> miner state (JSON text)
  };

  bool dry_run() const { return opt_.dry_run || gen_->cfg->agent.dry_run; }

  void notify(const std::string& what) {
    if (opt_.notify) opt_.notify(what);
  }

  static json::array files_json(const Config& cfg) {
    json::array files;
    for (const auto& f : cfg.files) files.emplace_back(f);
    return files;
  }

  Result<std::shared_ptr<Generation>> build(Config cfg) {
    auto rt = build_runtime(cfg);
    if (!rt) return std::unexpected(rt.error());
    if (auto problems = preflight(cfg, *rt, Duration{24 * 3600 * 1000}); !problems.empty())
      return fail(text::join(problems, "; "));
    auto g = std::make_shared<Generation>();
    g->cfg = std::make_shared<const Config>(std::move(cfg));
    for (const auto& p : g->cfg->policies)
      for (const auto& c : p.metrics) g->conditions[c.id] = {&c, p.name};
    g->rt = std::make_shared<Runtime>(std::move(*rt));
    g->number = ++generations_;
    return g;
  }

  std::optional<long long> append(const std::string& kind, json::object fields) {
    auto r = journal_->append(kind, std::move(fields));
    if (!r) {
      log_.event("JOURNAL WRITE FAILED: " + r.error().message);
      return std::nullopt;
    }
    return *r;
  }

  // ---- replay ----

  // The machines as the journal left them: the last state of each policy,
  // the last release of each service, the open alarms.
  Replay replay_journal(const Config& cfg) {
    Replay r;
    json::object policies, canary;
    std::map<std::string, json::object> alarms;
    std::string last_run;
    bool last_closed = true;
    // From the last checkpoint on: it holds the state of everything before it.
    for_each_record_since_checkpoint(journal_->path(), [&](json::object& rec) {
      std::string kind = string_at(rec, "kind");
      const json::object* d = nullptr;
      if (const auto* v = rec.if_contains("data"); v && v->is_object()) d = &v->as_object();
      if (kind == "checkpoint" && d) {
        const json::object* sec = nullptr;
        if (const auto* v = d->if_contains("sections"); v && v->is_object()) sec = &v->as_object();
        auto obj = [&](const char* k) -> const json::object* {
          const auto* v = sec ? sec->if_contains(k) : nullptr;
          return v && v->is_object() ? &v->as_object() : nullptr;
        };
        if (const auto* e = obj("engine")) {
          if (const auto* p = e->if_contains("policies"); p && p->is_object()) policies = p->as_object();
          // Canary counting is in checkpoints only (as of the last one, exact after a clean stop).
          if (const auto* c = e->if_contains("canary"); c && c->is_object()) canary = c->as_object();
          if (const auto* a = e->if_contains("alarms"); a && a->is_array())
            for (const auto& x : a->as_array())
              if (x.is_object()) alarms[string_at(x.as_object(), "service") + "\x1f" + string_at(x.as_object(), "affected")] = x.as_object();
        }
        if (const auto* rel = obj("releases"))
          for (const auto& [k, v] : *rel)
            if (v.is_string()) r.releases[std::string(k)] = std::string(v.as_string());
        if (const auto* lg = obj("logs")) {
          r.log_miners.clear();
          for (const auto& [k, v] : *lg) r.log_miners.emplace_back(std::string(k), json::serialize(v));
        }
        if (const auto* rel = obj("config_releases"))
          for (const auto& [k, v] : *rel)
            if (v.is_string()) r.config_releases[std::string(k)] = std::string(v.as_string());
      }
      std::string run = string_at(rec, "run");
      if (!run.empty() && run != last_run) {
        last_run = run;
        last_closed = false;
      }
      if (kind == "verify_finished") last_closed = true;
      if (kind == "watch_stopped") last_closed = d && d->contains("clean") && d->at("clean") == json::value(true);
      if (!d) return true;
      if (kind == "policy_state") policies[string_at(rec, "policy")] = *d;
      if (kind == "release_started") r.releases[string_at(*d, "service")] = string_at(*d, "release");
      if (kind == "config_loaded" && string_at(*d, "mode") == "watch")
        if (const auto* s = d->if_contains("services"); s && s->is_object())
          for (const auto& [name, v] : s->as_object())
            if (v.is_object()) r.config_releases[std::string(name)] = string_at(v.as_object(), "config_release");
      if (kind == "alarm_raised" && string_at(rec, "policy").empty()) {
        std::string id = string_at(*d, "service") + "\x1f" + string_at(*d, "scope");
        auto& a = alarms[id];
        if (a.empty()) {
          a = {{"key", string_at(*d, "incident")}, {"service", string_at(*d, "service")}, {"scope", string_at(*d, "scope")},
               {"status", "investigating"}, {"experience", string_at(*d, "reason")},
               {"title", fmt::format("{}: alarm raised by {}", string_at(*d, "service"), string_at(*d, "who"))},
               {"actions", json::array{}}};
        }
        a["actions"].as_array().emplace_back(fmt::format("alarm raised by {}: {}", string_at(*d, "who"), string_at(*d, "reason")));
      }
      return true;
    });
    json::array al;
    for (auto& [id, a] : alarms) al.push_back(std::move(a));
    r.states = {{"policies", policies}, {"alarms", al}, {"canary", canary}};
    r.clean = last_closed;
    (void)cfg;
    return r;
  }

  // The config's release wins when it changed since the last start (someone
  // edited it); otherwise what CI announced since is current.
  std::string current_release(const ServiceSpec& s, const Replay& r) {
    auto announced = r.releases.find(s.name);
    auto said = r.config_releases.find(s.name);
    if (announced == r.releases.end()) return s.release;
    if (!s.release.empty() && (said == r.config_releases.end() || said->second != s.release)) return s.release;
    return announced->second;
  }

  // ---- the engine ----

  void make_engine(std::map<std::string, ContinuedIncident> continued) {
    const Config& cfg = *gen_->cfg;
    EngineOptions eo{.release = releases_[cfg.agent.service],
                     .release_started = clock_.now(),
                     .continue_incidents = std::move(continued),
                     .dry_run = dry_run(),
                     .exclusive = false,
                     .journal_states = true,
                     .releases = releases_};
    auto g = gen_;
    engine_ = std::make_unique<Engine>(
        g->cfg,
        EngineEnv{*g->rt, *journal_, *g->notifier, clock_, log_,
                  [this](RollbackAction& rb, std::function<void(Result<RollbackOutcome>)> done) {
                    ++actions_in_flight_;
                    rb.start(io_, [this, done = std::move(done)](Result<RollbackOutcome> r) {
                      --actions_in_flight_;
                      metrics_.action("rollback", r && r->ok ? "applied" : "failed");
                      done(std::move(r));
                      after_engine();
                    });
                  },
                  [this](const EngineEvent& e) { on_engine_event(e); }},
        std::move(eo));
  }

  void on_engine_event(const EngineEvent& e) {
    switch (e.kind) {
      case EngineEvent::Kind::State:
        metrics_.policy_state(e.policy, to_string(e.state));
        states_changed_ = true;
        break;
      case EngineEvent::Kind::IncidentOpened:
        states_changed_ = true;
        // Time to detect is observed for every incident a trip opens (a
        // mitigation that fails was detected too); a trip that continues an
        // incident opens none, so nothing is counted twice.
        if (engine_ && !e.policy.empty()) {
          PolicyResult res = engine_->ladder(e.policy);
          if (res.tripped_at)
            metrics_.time_to_detect(std::max(Duration{0}, std::chrono::duration_cast<Duration>(
                                                              *res.tripped_at - engine_->release_of(e.policy).second)));
        }
        break;
      case EngineEvent::Kind::IncidentClosed: states_changed_ = true; break;
      case EngineEvent::Kind::Action: metrics_.action(e.action, e.outcome); break;
      case EngineEvent::Kind::Recovered:
        metrics_.time_to_mitigate(Duration{static_cast<long long>(e.mitigate_seconds * 1000)});
        break;
      default: break;
    }
  }

  // After anything fed the engine: judge, then do what it asked for (run the
  // signals of a verification now), arm its next deadline, update gauges.
  void after_engine() {
    if (!engine_) return;
    engine_->advance();
    for (const auto& name : engine_->take_urgent()) run_now(name);
    if (auto d = engine_->next_deadline()) {
      deadline_timer_.expires_after(std::max(Duration{0}, std::chrono::duration_cast<Duration>(*d - clock_.now())) +
                                    Duration{1});
      deadline_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) after_engine();
      });
    } else {
      deadline_timer_.cancel();
    }
    if (states_changed_) {
      // Recounted when a machine moved, not on every observation.
      states_changed_ = false;
      int open = static_cast<int>(engine_->alarm_incidents().size());
      for (const auto& p : gen_->cfg->policies) {
        LadderState s = engine_->state(p.name);
        open += s == LadderState::Tripped || s == LadderState::Mitigating || s == LadderState::Verifying ||
                s == LadderState::Escalated || s == LadderState::Failed;
      }
      metrics_.incidents_open(open);
    }
    long long head = journal_->head().seq;
    for (; journal_seen_ < head; ++journal_seen_) metrics_.journal_record_written(static_cast<uint64_t>(journal_seen_ + 1));
    if (pending_reload_ && actions_in_flight_ == 0) reload("deferred until the step in flight finished");
    if (stopping_ && actions_in_flight_ == 0) finish();
  }

  // ---- schedules ----

  void schedule_all() {
    const Config& cfg = *gen_->cfg;
    std::set<std::string> wanted;
    TimePoint now = clock_.now();
    for (const auto& p : cfg.policies) {
      for (const auto& name : p.probes) {
        wanted.insert(name);
        if (!signals_.contains(name))
          add_signal(name, true, cfg.probe(name)->interval, now);
        else
          signals_[name].interval = cfg.probe(name)->interval;
      }
      for (const auto& c : p.metrics) {
        wanted.insert(c.id);
        if (!signals_.contains(c.id)) add_signal(c.id, false, c.interval, now);
        else signals_[c.id].interval = c.interval;
      }
    }
    for (auto it = signals_.begin(); it != signals_.end();) {
      if (wanted.contains(it->first)) {
        ++it;
        continue;
      }
      it->second.timer->cancel();
      if (it->second.probe) metrics_.forget_probe(it->first);
      else metrics_.forget_signal(it->first);
      it = signals_.erase(it);
    }
  }

  void add_signal(const std::string& name, bool probe, Duration interval, TimePoint now) {
    Signal& s = signals_[name];
    s.name = name;
    s.probe = probe;
    s.interval = interval;
    s.timer = std::make_unique<asio::steady_timer>(loop_);
    // The first run now (give or take the jitter); the grid after it is
    // shifted by one of kPhases phases, stable for the name. Probes that fire
    // together share the loop's wakeups (CPU), but each holds a connection
    // and its buffers meanwhile (memory): with 1,000 probes at 1 s, one
    // phase measured 10.7 % of a core and 51.6 MB, two 12.4 % and 39.7 MB,
    // eight 17.9 % and 39.7 MB (docs/benchmarks.md).
    constexpr size_t kPhases = 2;
    s.next = now + interval * static_cast<long long>(std::hash<std::string>{}(name) % kPhases) / static_cast<long long>(kPhases);
    wait(s, jitter(interval));
  }

  Duration jitter(Duration interval) {
    long long max = interval.count() / 20;  // at most 5 % of the interval
    if (max <= 0) return Duration{0};
    return Duration{std::uniform_int_distribution<long long>(0, max)(rng_)};
  }

  void arm(Signal& s, Duration extra) {
    wait(s, std::max(Duration{0}, std::chrono::duration_cast<Duration>(s.next - clock_.now())) + extra);
  }

  void wait(Signal& s, Duration delay) {
    s.timer->expires_after(delay);
    std::string name = s.name;
    s.timer->async_wait([this, name](boost::system::error_code ec) {
      if (ec || stopping_) return;
      auto it = signals_.find(name);
      if (it == signals_.end()) return;
      fire(it->second);
    });
  }

  void fire(Signal& s) {
    // The next tick, on the unjittered grid; a missed tick is skipped, not queued.
    TimePoint now = clock_.now();
    while (s.next <= now) s.next += s.interval;
    arm(s, jitter(s.interval));
    if (s.in_flight) {
      ++s.overruns;
      metrics_.scheduler_overrun(s.name);
      return;
    }
    launch(s);
  }

  void run_now(const std::string& name) {
    auto it = signals_.find(name);
    if (it == signals_.end()) return;
    if (it->second.in_flight) {
      it->second.rerun = true;
      return;
    }
    launch(it->second);
  }

  void launch(Signal& s) {
    if (!engine_->wants(s.name)) return;  // e.g. every policy that judges it is paused
    s.in_flight = true;
    auto g = gen_;
    std::string name = s.name;
    if (s.probe) {
      g->rt->probes.at(name)->start(io_, clock_, [this, g, name](Observation o) {
        if (g != gen_) return;  // started under a config that a reload replaced
        metrics_.probe_result(o.signal, o.outcome, o.latency);
        metrics_.observation(to_string(o.outcome));
        engine_->observe(std::move(o));
        done(name);
      });
      return;
    }
    const auto& [c, policy] = g->conditions.at(name);
    MetricSource& source = *g->rt->metric_sources.at(c->source);
    if (c->kind == MetricCondition::Kind::Baseline && !s.baseline_in_flight) {
      // The pre-release value, as of the release's start, until one arrives.
      const auto& h = engine_->metric_history();
      auto b = h.find(name + "#baseline");
      if (b == h.end() || b->second.back().status != ReadingStatus::Ok) {
        s.baseline_in_flight = true;
        TimePoint at = clock_.to_wall(engine_->release_of(policy).second);
        start_read_baseline(io_, source, *c, clock_, at, [this, g, name](MetricReading r) {
          if (g != gen_) return;
          if (auto it = signals_.find(name); it != signals_.end()) it->second.baseline_in_flight = false;
          engine_->read(std::move(r));
          after_engine();
        });
      }
    }
    start_read_condition(io_, source, *c, clock_, [this, g, name](MetricReading r) {
      if (g != gen_) return;
      metrics_.observation(to_string(r.status));
      engine_->read(std::move(r));
      done(name);
    });
  }

  void done(const std::string& name) {
    if (auto it = signals_.find(name); it != signals_.end()) {
      it->second.in_flight = false;
      if (it->second.rerun) {
        it->second.rerun = false;
        launch(it->second);
      }
    }
    after_engine();
  }

  // A release announced with a bake gets its verdict when the bake ends.
  void bake(const std::string& service, const std::string& release, Duration d, std::vector<std::string> policies) {
    auto t = std::make_shared<asio::steady_timer>(loop_, d);
    bakes_.push_back(t);
    t->async_wait([this, t, service, release, policies](boost::system::error_code ec) {
      std::erase(bakes_, t);
      if (ec || stopping_) return;
      engine_->judge_release(service, release, policies);
      after_engine();
    });
  }

  // ---- releases learnt from a metric label ----

  void arm_release_polls() {
    release_polls_.clear();
    for (const auto& s : gen_->cfg->services)
      if (s.release_from) {
        auto& t = release_polls_[s.name];
        t.timer = std::make_unique<asio::steady_timer>(loop_);
        poll_release(s.name, Duration{0});
      }
  }

  void poll_release(const std::string& service, Duration after) {
    auto it = release_polls_.find(service);
    if (it == release_polls_.end()) return;
    it->second.timer->expires_after(after);
    it->second.timer->async_wait([this, service](boost::system::error_code ec) {
      if (ec || stopping_) return;
      const ServiceSpec* s = gen_->cfg->service(service);
      if (!s || !s->release_from) return;
      auto g = gen_;
      const auto& from = *s->release_from;
      g->rt->metric_sources.at(from.source)->start_read(io_, from.query, clock_, std::nullopt,
                                                       [this, g, service](MetricReading r) {
                                                         if (g != gen_) return;
                                                         release_read(service, r);
                                                       });
    });
  }

  // The label value most series carry (a rollout in progress shows both);
  // it counts once two reads in a row agree.
  void release_read(const std::string& service, const MetricReading& r) {
    const ServiceSpec* s = gen_->cfg->service(service);
    if (!s || !s->release_from) return;
    auto& poll = release_polls_[service];
    // Each value weighs what its series add up to (a build_info gauge of 1
    // per pod: the number of pods running it).
    std::map<std::string, double> votes;
    if (r.status == ReadingStatus::Ok)
      for (const auto& v : r.series)
        for (const auto& [k, val] : v.labels)
          if (k == s->release_from->label && !val.empty()) votes[val] += v.value > 0 ? v.value : 0;
    std::string seen;
    double best = 0;
    for (const auto& [val, n] : votes)
      if (n > best) best = n, seen = val;
    if (r.status != ReadingStatus::Ok && poll.last_problem != r.detail) {
      log_.event(fmt::format("release of {}: cannot read it from {}: {}", service, s->release_from->source, r.detail));
      poll.last_problem = r.detail;
    }
    if (!seen.empty()) {
      poll.last_problem.clear();
      if (seen == poll.candidate && seen != releases_[service]) {
        auto a = engine_->announce({.service = service, .release = seen,
                                    .who = fmt::format("label {} of {}", s->release_from->label, r.query)});
        if (a) {
          releases_[service] = seen;
          if (service == gen_->cfg->agent.service)
            journal_->set_context({service, gen_->cfg->agent.environment, seen, opt_.run_id});
          after_engine();
        }
      }
      poll.candidate = seen;
    }
    poll_release(service, s->release_from->interval);
  }

  // ---- reload ----

  std::map<std::string, std::optional<FileStamp>> stamps(const Config& cfg) {
    std::map<std::string, std::optional<FileStamp>> out;
    for (const auto& f : cfg.files) out[f] = stamp_of(f);
    return out;
  }

  void arm_reload_poll() {
    reload_timer_.expires_after(gen_->cfg->watch.reload_poll);
    reload_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      auto now = stamps(*gen_->cfg);
      if (now != stamps_) {
        stamps_ = now;
        reload("a config file changed");
      }
      arm_reload_poll();
    });
  }

  void reload(const std::string& why) {
    if (actions_in_flight_ > 0) {
      // A rollback is running under the current config: swap after it.
      pending_reload_ = true;
      return;
    }
    pending_reload_ = false;
    notify("RELOADING=1");
    log_.event(fmt::format("reloading the config ({})", why));
    auto reject = [&](const std::vector<std::string>& problems) {
      for (const auto& p : problems) log_.event("reload rejected: " + p);
      json::array a;
      for (const auto& p : problems) a.emplace_back(p);
      append("config_rejected", {{"data", {{"diagnostics", a}, {"kept_digest", gen_->cfg->digest}}}});
      metrics_.config_reload(false, clock_.wall());
      notify("READY=1");
    };
    auto loaded = load_config(opt_.config_path);
    stamps_ = stamps(loaded.config ? *loaded.config : *gen_->cfg);
    if (!loaded.config) {
      std::vector<std::string> problems;
      for (const auto& d : loaded.diagnostics) problems.push_back(d.str());
      return reject(problems);
    }
    const Config& old = *gen_->cfg;
    std::vector<std::string> fixed;
    if (loaded.config->agent.journal != old.agent.journal) fixed.push_back("agent.journal cannot change while watching (restart to move it)");
    if (loaded.config->watch.address != old.watch.address || loaded.config->watch.port != old.watch.port ||
        loaded.config->watch.tls_cert != old.watch.tls_cert || loaded.config->watch.tls_key != old.watch.tls_key)
      fixed.push_back("the watch listener's address, port and TLS files cannot change while watching (restart)");
    if (!fixed.empty()) return reject(fixed);
    if (loaded.config->digest == old.digest) {
      metrics_.config_reload(true, clock_.wall());
      notify("READY=1");
      return;
    }
    auto g = build(std::move(*loaded.config));
    if (!g) return reject({secrets::redact(g.error().message)});
    // Policies whose definition did not change keep their state.
    json::object snap = engine_->snapshot();
    json::object keep;
    std::vector<std::string> kept_names, reset_names;
    if (auto* pol = snap.if_contains("policies"); pol && pol->is_object()) {
      for (const auto& p : (*g)->cfg->policies) {
        const PolicySpec* before = old.policy(p.name);
        if (before && definition_of(old, *before) == definition_of(*(*g)->cfg, p) && pol->as_object().contains(p.name)) {
          keep[p.name] = pol->as_object().at(p.name);
          kept_names.push_back(p.name);
        } else {
          reset_names.push_back(p.name);
        }
      }
      for (const auto& p : old.policies)
        if (!(*g)->cfg->policy(p.name)) metrics_.forget_policy(p.name);
    }
    snap["policies"] = keep;
    (*g)->notifier = std::make_unique<IncidentNotifier>((*g)->rt->sink_pointers(), *journal_, notifier_options());
    retired_.push_back(std::move(gen_));
    gen_ = std::move(*g);
    for (const auto& s : gen_->cfg->services)
      if (!releases_.contains(s.name)) releases_[s.name] = s.release;
    make_engine({});
    engine_->restore(snap, {}, true);
    json::array k, r;
    for (const auto& n : kept_names) k.emplace_back(n);
    for (const auto& n : reset_names) r.emplace_back(n);
    append("config_reloaded", {{"data", {{"files", files_json(*gen_->cfg)}, {"digest", gen_->cfg->digest},
                                         {"kept_state", k}, {"reset", r}}}});
    metrics_.config_reload(true, clock_.wall());
    schedule_all();
    arm_release_polls();
    after_engine();
    notify("READY=1");
  }

  // ---- checkpoint, watchdog, signals ----

  void arm_checkpoint() {
    checkpoint_timer_.expires_after(checkpoint_retry_ ? Duration{5000} : gen_->cfg->watch.checkpoint_every);
    checkpoint_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      checkpoint_retry_ = !checkpoint();  // unsettled: try again soon
      arm_checkpoint();
    });
  }

  // Only when everything before it is settled (no step in flight, no
  // delivery pending): replay and reconciliation then start from it.
  bool checkpoint() {
    if (actions_in_flight_ > 0 || !gen_->notifier->flush(Duration{0})) return false;
    json::object releases, config_releases;
    for (const auto& [s, r] : releases_) releases[s] = r;
    for (const auto& s : gen_->cfg->services) config_releases[s.name] = s.release;
    json::object miners;  // the log sources' signatures, so their ids survive a restart
    for (const auto& [name, state] : logs::log_signal_states(gen_->rt->metric_sources)) {
      boost::system::error_code ec;
      json::value v = json::parse(state, ec);
      if (!ec) miners[name] = std::move(v);
    }
    auto r = journal_->append_checkpoint({{"engine", engine_->snapshot()},
                                          {"releases", releases},
                                          {"config_releases", config_releases},
                                          {"logs", miners},
                                          {"incident_sinks", sink_memory_->to_json()}});
    if (!r) log_.event("JOURNAL WRITE FAILED: checkpoint: " + r.error().message);
    return r.has_value();
  }

  // What sinks remember (Jira keys, Statuspage ids) outlives a reload's new
  // notifier; sink state changes become metrics and log lines.
  NotifierOptions notifier_options() {
    NotifierOptions o;
    o.memory = sink_memory_;
    o.log = [this](const std::string& line) { log_.event(line); };
    o.on_sink_state = [this](const std::string& sink, bool down) { metrics_.incident_sink_down(sink, down); };
    return o;
  }

  // The dead-man's switch: sinks with a heartbeat get one now and then each
  // period (the notifier's workers send it; the loop never waits).
  void arm_heartbeat(bool now) {
    auto every = gen_->notifier->heartbeat_every();
    if (!every || stopping_) return;
    if (now) gen_->notifier->heartbeat();
    heartbeat_timer_.expires_after(*every);
    heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      arm_heartbeat(true);
    });
  }

  void arm_watchdog() {
    if (opt_.watchdog_interval.count() <= 0) return;
    watchdog_timer_.expires_after(opt_.watchdog_interval);
    watchdog_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      // Pinged from the loop: a loop that hangs stops the pings and systemd restarts us.
      notify("WATCHDOG=1");
      arm_watchdog();
    });
  }

  void wait_signals() {
    signals_set_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload("SIGHUP");
        wait_signals();
        return;
      }
      begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
      wait_signals();
    });
  }

  void begin_stop(const std::string& why) {
    if (stopping_) {
      log_.event("second stop signal: stopping now");
      finish();
      return;
    }
    stopping_ = true;
    notify("STOPPING=1");
    log_.event(fmt::format("{}: stopping (waiting at most {} for steps in flight)", why,
                           format_duration(gen_->cfg->watch.shutdown_grace)));
    for (auto& [n, s] : signals_) s.timer->cancel();
    for (auto& [n, p] : release_polls_) p.timer->cancel();
    for (auto& t : std::vector(bakes_)) t->cancel();
    reload_timer_.cancel();
    checkpoint_timer_.cancel();
    if (actions_in_flight_ == 0) return finish();
    grace_timer_.expires_after(gen_->cfg->watch.shutdown_grace);
    grace_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) finish();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    bool clean = actions_in_flight_ == 0;
    checkpoint();
    append("watch_stopped", {{"data", {{"clean", clean}, {"actions_in_flight", actions_in_flight_}}}});
    if (!gen_->notifier->flush(std::chrono::seconds(10)))
      log_.event("some incident notifications were still pending after 10s; see the journal");
    for (auto& g : retired_) g->notifier->flush(std::chrono::seconds(2));
    if (listener_) listener_->stop();
    deadline_timer_.cancel();
    watchdog_timer_.cancel();
    heartbeat_timer_.cancel();
    grace_timer_.cancel();
    signals_set_.cancel();
    exit_code_ = 0;
    loop_.stop();
  }

  // ---- the HTTP API ----

  Result<std::unique_ptr<HttpListener>> start_listener(const Config& cfg) {
    ListenerSpec spec;
    spec.address = cfg.watch.address;
    spec.port = static_cast<uint16_t>(cfg.watch.port);
    spec.tls_cert = cfg.watch.tls_cert;
    spec.tls_key = cfg.watch.tls_key;
    spec.max_body = cfg.watch.max_body;
    spec.max_connections = static_cast<size_t>(cfg.watch.max_connections);
    spec.read_timeout = cfg.watch.read_timeout;
    spec.requests = RateLimit{cfg.watch.requests_per_second, cfg.watch.requests_per_second * 2};
    spec.mutating = RateLimit{cfg.watch.mutations_per_second, cfg.watch.mutations_per_second * 5};
    return HttpListener::start(loop_, spec, [this](const ServerRequest& req, Respond respond) {
      respond(handle(req));
    });
  }

  ServerResponse handle(const ServerRequest& req) {
    ApiContext ctx{.config = *gen_->cfg,
                   .engine = *engine_,
                   .journal = *journal_,
                   .metrics_text = [this] { return metrics_.text(); },
                   .releases = releases_,
                   .run_id = opt_.run_id,
                   .ready = !stopping_ && journal_ok(),
                   .last_signals = [this](const std::string& name) { return last_signal(name); },
                   .incidents = &incidents_};
    ApiResult r = handle_api(ctx, req);
    if (r.changed) {
      if (!r.release_service.empty()) releases_[r.release_service] = r.release;
      if (r.bake.count() > 0) bake(r.release_service, r.release, r.bake, r.bake_policies);
      if (r.release_service == gen_->cfg->agent.service)
        journal_->set_context({gen_->cfg->agent.service, gen_->cfg->agent.environment, r.release, opt_.run_id});
      after_engine();
    }
    return std::move(r.response);
  }

  bool journal_ok() const { return journal_ != nullptr; }

  json::object last_signal(const std::string& name) const {
    const auto& h = engine_->history();
    if (auto it = h.find(name); it != h.end() && !it->second.empty()) {
      const Observation& o = it->second.back();
      return {{"at", text::rfc3339(clock_.to_wall(o.at))}, {"outcome", to_string(o.outcome)}, {"detail", o.detail},
              {"latency_ms", o.latency.count()}};
    }
    const auto& m = engine_->metric_history();
    if (auto it = m.find(name); it != m.end() && !it->second.empty()) {
      const MetricReading& r = it->second.back();
      return {{"at", text::rfc3339(clock_.to_wall(r.at))}, {"outcome", to_string(r.status)}, {"detail", r.detail}};
    }
    return {};
  }

  const WatchOptions& opt_;
  Progress& log_;
  asio::io_context loop_;
  AsyncHttp http_;
  AsyncIo io_;
  SystemClock clock_;
  asio::signal_set signals_set_;
  asio::steady_timer deadline_timer_, reload_timer_, checkpoint_timer_, watchdog_timer_, grace_timer_;
  asio::steady_timer heartbeat_timer_{loop_};
  WatchMetrics metrics_;
  std::shared_ptr<SinkMemoryStore> sink_memory_ = std::make_shared<SinkMemoryStore>();
  std::mt19937_64 rng_;
  std::unique_ptr<Journal> journal_;
  std::shared_ptr<Generation> gen_;
  std::vector<std::shared_ptr<Generation>> retired_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HttpListener> listener_;
  std::map<std::string, Signal> signals_;
  IncidentCache incidents_;  // the page's KPIs and /incidents/{key}, from the journal
  struct ReleasePoll {
    std::unique_ptr<asio::steady_timer> timer;
    std::string candidate;     // the value the last read saw
    std::string last_problem;  // said once, not every read
  };
  std::map<std::string, ReleasePoll> release_polls_;
  std::vector<std::shared_ptr<asio::steady_timer>> bakes_;
  std::map<std::string, std::string> releases_;
  std::map<std::string, std::optional<FileStamp>> stamps_;
  uint64_t generations_ = 0;
  long long journal_seen_ = 0;
  int actions_in_flight_ = 0;
  bool pending_reload_ = false;
  bool states_changed_ = true;
  bool checkpoint_retry_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
};

}  // namespace

int run_watch(const WatchOptions& options, Progress& log) {
  Watcher w(options, log);
  return w.run();
}

}  // namespace dg
