#include "agent/incidents/notifier.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <random>
#include <set>
#include <thread>

#include "agent/core/json_text.h"
#include "agent/core/text.h"

namespace dg {

namespace json = boost::json;

// ---- memory ----

json::object SinkMemoryStore::get(const std::string& sink, const std::string& key) const {
  std::lock_guard lock(mu_);
  auto s = data_.find(sink);
  if (s == data_.end()) return {};
  auto k = s->second.find(key);
  return k == s->second.end() ? json::object{} : k->second.second;
}

void SinkMemoryStore::put(const std::string& sink, const std::string& key, json::object data) {
  if (data.empty() || key.empty()) return;
  std::lock_guard lock(mu_);
  auto& m = data_[sink];
  m[key] = {++stamp_, std::move(data)};
  if (m.size() > kMaxKept) {
    // Forget the incident touched longest ago: it ended long since.
    auto oldest = m.begin();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it->second.first < oldest->second.first) oldest = it;
    m.erase(oldest);
  }
}

json::object SinkMemoryStore::to_json() const {
  std::lock_guard lock(mu_);
  json::object out;
  for (const auto& [sink, m] : data_) {
    json::object o;
    for (const auto& [key, v] : m) o[key] = v.second;
    out[sink] = std::move(o);
  }
  return out;
}

void SinkMemoryStore::load(const json::object& o) {
  for (const auto& [sink, m] : o)
    if (m.is_object())
      for (const auto& [key, v] : m.as_object())
        if (v.is_object()) put(std::string(sink), std::string(key), v.as_object());
}

// ---- notifier ----

// One worker per sink: a dead or slow sink delays only its own deliveries,
// never another sink's and never the ladder.
struct IncidentNotifier::Impl {
  struct Job {
    Incident incident;
    bool heartbeat = false;
  };
  struct Worker {
    std::string name;
    IncidentSink* sink = nullptr;
    std::deque<Job> queue;
    bool busy = false;
    bool down = false;
    int consecutive_failures = 0;
    std::string last_error;  // empty when the last delivery worked
    int delivered = 0, failed = 0, dropped = 0;
    std::optional<Duration> refresh_every;
    TimePoint next_refresh{};
    std::thread thread;
  };
  Journal& journal;
  NotifierOptions opt;
  std::shared_ptr<SinkMemoryStore> memory;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::map<std::string, std::unique_ptr<Worker>> workers;

  Impl(const std::map<std::string, IncidentSink*>& sinks, Journal& j, NotifierOptions o)
      : journal(j), opt(std::move(o)), memory(opt.memory ? opt.memory : std::make_shared<SinkMemoryStore>()) {
    for (const auto& [name, sink] : sinks) {
      auto w = std::make_unique<Worker>();
      w->name = name;
      w->sink = sink;
      w->refresh_every = sink->refresh_every();
      if (w->refresh_every) w->next_refresh = std::chrono::system_clock::now() + *w->refresh_every;
      workers[name] = std::move(w);
    }
    for (auto& [name, w] : workers) w->thread = std::thread([this, wp = w.get()] { loop(*wp); });
  }

  void log(const std::string& line) const {
    if (opt.log) opt.log(line);
  }

  void loop(Worker& w) {
    std::unique_lock lock(mu);
    for (;;) {
      auto ready = [&] { return stop || !w.queue.empty(); };
      if (w.refresh_every) cv.wait_until(lock, w.next_refresh, ready);
      else cv.wait(lock, ready);
      if (stop) {
        // Left without an outcome on purpose: the next start re-queues them
        // (resume_deliveries). This record only says so.
        int pending = 0;
        json::array keys;
        for (const auto& j : w.queue)
          if (!j.heartbeat) {
            ++pending;
            keys.emplace_back(j.incident.key + ":" + j.incident.event);
          }
        if (pending > 0) {
          (void)journal.append("incident_deliveries_pending",
                               {{"data", {{"sink", w.name}, {"pending", pending}, {"events", keys},
                                          {"note", "not delivered before the agent stopped; the next start sends them"}}}});
          w.last_error = "not delivered before the agent stopped (the next start sends it)";
        }
        w.queue.clear();
        return;
      }
      if (w.queue.empty()) {
        // Refresh due (Alertmanager's firing alerts), between events only.
        w.busy = true;
        lock.unlock();
        w.sink->refresh(std::chrono::system_clock::now());
        lock.lock();
        w.busy = false;
        w.next_refresh = std::chrono::system_clock::now() + *w.refresh_every;
        cv.notify_all();
        continue;
      }
      Job job = std::move(w.queue.front());
      w.queue.pop_front();
      w.busy = true;
      lock.unlock();
      if (job.heartbeat) beat(w);
      else deliver(w, std::move(job.incident));
      lock.lock();
      w.busy = false;
      cv.notify_all();
    }
  }

  // Sleeps unless the notifier stops first; false when it did.
  bool sleep(Duration d) {
    std::unique_lock lock(mu);
    return !cv.wait_for(lock, d, [&] { return stop; });
  }

  void beat(Worker& w) {
    SinkAttempt a = w.sink->heartbeat(std::chrono::system_clock::now());
    if (!a.ok()) log(fmt::format("incident sink {}: heartbeat failed: {}", w.name, a.detail));
  }

  void deliver(Worker& w, Incident i) {
    SinkMemory mem(memory->get(w.name, i.key), [&](const json::object& data) {
      // At once, before the sink goes on: a retry or a restart reuses it.
      memory->put(w.name, i.key, data);
      (void)journal.append("incident_remember",
                           {{"policy", i.policy}, {"data", {{"sink", w.name}, {"key", i.key}, {"remember", data}}}});
    });
    // The payload names a record the journal holds (at least the intent),
    // so a later truncation or rewrite is detectable from it.
    i.journal_head = journal.head().str();
    RetryPolicy p = w.sink->retry_policy();
    bool was_down;
    {
      std::lock_guard lock(mu);
      was_down = w.down;
    }
    // A sink marked down gets one try per event, so its queue keeps moving.
    if (was_down) p.max_attempts = 1;
    std::mt19937 rng{std::random_device{}()};
    SinkAttempt a;
    int n = 0;
    for (;;) {
      ++n;
      a = w.sink->attempt(i, mem);
      if (a.ok() || a.kind == SinkAttempt::Kind::Rejected || n >= p.max_attempts) break;
      if (!sleep(retry_delay(p, n, a.retry_after, rng))) return;  // stopping: stays pending
    }
    std::string error;
    if (!a.ok())
      error = a.kind == SinkAttempt::Kind::Rejected || n == 1 ? a.detail
                                                              : fmt::format("gave up after {} attempt(s): {}", n, a.detail);
    // The status tells a final event from an earlier one of the same kind
    // (reconcile.cpp re-sends a final event a killed run never delivered).
    json::object data{{"sink", w.name}, {"key", i.key}, {"status", i.status}, {"ok", a.ok()}, {"attempts", n}};
    if (a.ok()) data["detail"] = a.detail;
    else data["error"] = error;
    if (!mem.data().empty()) data["remember"] = mem.data();
    (void)journal.append("incident_" + i.event, {{"policy", i.policy}, {"data", data}});
    if (a.ok()) memory->put(w.name, i.key, mem.data());
    settle(w, a.ok(), error);
  }

  void settle(Worker& w, bool ok, const std::string& error) {
    bool went_down = false, came_up = false;
    int failures;
    {
      std::lock_guard lock(mu);
      if (ok) {
        ++w.delivered;
        w.last_error.clear();
        w.consecutive_failures = 0;
        came_up = w.down;
        w.down = false;
      } else {
        ++w.failed;
        w.last_error = error;
        ++w.consecutive_failures;
        went_down = !w.down && w.consecutive_failures >= opt.down_after;
        w.down = w.down || went_down;
      }
      failures = w.consecutive_failures;
    }
    if (!ok) log(fmt::format("incident sink {}: delivery failed: {}", w.name, error));
    if (went_down) {
      (void)journal.append("incident_sink_down",
                           {{"data", {{"sink", w.name}, {"consecutive_failures", failures}, {"error", error}}}});
      log(fmt::format("incident sink {} is DOWN after {} failed deliveries in a row (last: {}); flips go on, "
                      "its events get one try each until one works",
                      w.name, failures, error));
      if (opt.on_sink_state) opt.on_sink_state(w.name, true);
    }
    if (came_up) {
      (void)journal.append("incident_sink_up", {{"data", {{"sink", w.name}}}});
      log(fmt::format("incident sink {} is up again", w.name));
      if (opt.on_sink_state) opt.on_sink_state(w.name, false);
    }
  }

  // Called with mu held: the bound (see notifier.h).
  void enqueue(Worker& w, Job job) {
    if (w.queue.size() >= opt.max_queue) {
      auto victim = w.queue.end();
      for (auto it = w.queue.begin(); it != w.queue.end(); ++it)
        if (!it->heartbeat && it->incident.event == "updated") {
          victim = it;
          break;
        }
      if (victim != w.queue.end()) {
        drop(w, victim->incident);
        w.queue.erase(victim);
      } else if (job.incident.event == "updated") {
        drop(w, job.incident);
        return;
      }
    }
    w.queue.push_back(std::move(job));
  }

  void drop(Worker& w, const Incident& i) {
    ++w.dropped;
    // An outcome, so no restart sends it: a later event of the incident
    // carries everything it said (actions accumulate).
    (void)journal.append("incident_" + i.event,
                         {{"policy", i.policy},
                          {"data", {{"sink", w.name}, {"key", i.key}, {"status", i.status}, {"ok", false},
                                    {"dropped", true},
                                    {"error", fmt::format("dropped: the sink's queue held {} events", opt.max_queue)}}}});
    log(fmt::format("incident sink {}: queue full ({}), dropped the oldest update of incident {}", w.name,
                    opt.max_queue, i.key));
  }

  bool idle() const {
    for (const auto& [n, w] : workers)
      if (!w->queue.empty() || w->busy) return false;
    return true;
  }
};

IncidentNotifier::IncidentNotifier(std::map<std::string, IncidentSink*> sinks, Journal& journal, NotifierOptions options)
    : impl_(std::make_unique<Impl>(sinks, journal, std::move(options))) {}

IncidentNotifier::~IncidentNotifier() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  for (auto& [name, w] : impl_->workers) w->thread.join();
}

void IncidentNotifier::notify(const Incident& incident, const std::vector<std::string>& sink_names, bool dry_run) {
  std::vector<std::string> names = sink_names;
  if (names.empty())
    for (const auto& [name, w] : impl_->workers) names.push_back(name);
  if (dry_run) {
    for (const auto& name : names)
      (void)impl_->journal.append(
          "would_have", {{"policy", incident.policy},
                         {"data", {{"action", "incident_" + incident.event}, {"sink", name}, {"key", incident.key},
                                   {"title", incident.title}, {"affected", incident.scope}}}});
    return;
  }
  // Journaled before it is queued: the intent is the persisted queue entry
  // (the journal redacts it like any record).
  for (const auto& name : names)
    if (impl_->workers.contains(name))
      (void)impl_->journal.append("incident_intent",
                                  {{"policy", incident.policy},
                                   {"data", {{"sink", name}, {"key", incident.key}, {"event", incident.event},
                                             {"status", incident.status}, {"incident", to_json(incident)}}}});
  std::lock_guard lock(impl_->mu);
  for (const auto& name : names)
    if (auto it = impl_->workers.find(name); it != impl_->workers.end()) impl_->enqueue(*it->second, {incident, false});
  impl_->cv.notify_all();
}

void IncidentNotifier::requeue(const Incident& incident, const std::string& sink, const std::string& of_run,
                               long long intent_seq) {
  auto it = impl_->workers.find(sink);
  if (it == impl_->workers.end()) return;
  (void)impl_->journal.append("incident_requeued",
                              {{"policy", incident.policy},
                               {"data", {{"sink", sink}, {"key", incident.key}, {"event", incident.event},
                                         {"status", incident.status}, {"run", of_run}, {"intent", intent_seq}}}});
  std::lock_guard lock(impl_->mu);
  impl_->enqueue(*it->second, {incident, false});
  impl_->cv.notify_all();
}

void IncidentNotifier::heartbeat() {
  std::lock_guard lock(impl_->mu);
  for (auto& [name, w] : impl_->workers) {
    if (!w->sink->heartbeat_every()) continue;
    // One waiting heartbeat is enough: a stuck sink must not pile them up.
    bool waiting = false;
    for (const auto& j : w->queue) waiting |= j.heartbeat;
    if (!waiting) w->queue.push_back({Incident{}, true});
  }
  impl_->cv.notify_all();
}

std::optional<Duration> IncidentNotifier::heartbeat_every() const {
  std::optional<Duration> out;
  for (const auto& [name, w] : impl_->workers)
    if (auto d = w->sink->heartbeat_every(); d && (!out || *d < *out)) out = d;
  return out;
}

bool IncidentNotifier::flush(Duration max_wait) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, max_wait, [&] { return impl_->idle(); });
}

std::vector<std::string> IncidentNotifier::delivery_report() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [name, w] : impl_->workers) {
    bool pending = std::any_of(w->queue.begin(), w->queue.end(), [](const Impl::Job& j) { return !j.heartbeat; });
    if (w->delivered == 0 && w->failed == 0 && w->dropped == 0 && !pending && !w->busy) continue;
    std::string line = name + ": " + std::to_string(w->delivered) + " delivered";
    if (w->failed) line += ", " + std::to_string(w->failed) + " FAILED (last: " + w->last_error + ")";
    if (w->dropped) line += ", " + std::to_string(w->dropped) + " update(s) dropped (queue full)";
    if (w->down) line += ", marked DOWN";
    if (pending || w->busy) line += ", still pending";
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> IncidentNotifier::down_sinks() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [name, w] : impl_->workers)
    if (w->down) out.push_back(name);
  return out;
}

SinkMemoryStore& IncidentNotifier::memory() { return *impl_->memory; }

// ---- resume ----

DeliveryResume resume_deliveries(IncidentNotifier& notifier, const std::string& journal_path,
                                 const std::string& this_run, bool dry_run) {
  struct Pending {
    long long seq;
    std::string run;
    json::object incident;
  };
  // sink|key|event -> intents not settled yet, oldest first
  std::map<std::string, std::deque<Pending>> pending;
  std::vector<std::string> order;
  std::set<std::string> remembered;
  auto data_of = [](const json::object& rec) -> const json::object* {
    const auto* d = rec.if_contains("data");
    return d && d->is_object() ? &d->as_object() : nullptr;
  };
  for_each_record_since_checkpoint(journal_path, [&](json::object& rec) {
    std::string kind = string_at(rec, "kind");
    const json::object* d = data_of(rec);
    if (!d || !kind.starts_with("incident") && kind != "checkpoint") return true;
    if (kind == "checkpoint") {
      if (const auto* s = d->if_contains("sections"); s && s->is_object())
        if (const auto* m = s->as_object().if_contains("incident_sinks"); m && m->is_object()) {
          notifier.memory().load(m->as_object());
          for (const auto& [sink, keys] : m->as_object())
            if (keys.is_object())
              for (const auto& [k, v] : keys.as_object()) remembered.insert(std::string(sink) + "|" + std::string(k));
        }
      return true;
    }
    std::string sink = string_at(*d, "sink"), key = string_at(*d, "key");
    if (kind == "incident_remember" || d->contains("remember")) {
      if (const auto* m = d->if_contains("remember"); m && m->is_object()) {
        notifier.memory().put(sink, key, m->as_object());
        remembered.insert(sink + "|" + key);
      }
    }
    if (kind == "incident_intent") {
      std::string k = sink + "|" + key + "|" + string_at(*d, "event");
      json::object inc;
      if (const auto* i = d->if_contains("incident"); i && i->is_object()) inc = i->as_object();
      if (pending[k].empty()) order.push_back(k);
      pending[k].push_back({rec.contains("seq") && rec.at("seq").is_int64() ? rec.at("seq").as_int64() : 0,
                            string_at(rec, "run"), std::move(inc)});
      return true;
    }
    static const std::set<std::string> kNotOutcomes = {"incident_intent", "incident_remember", "incident_requeued",
                                                       "incident_deliveries_pending", "incident_sink_down",
                                                       "incident_sink_up"};
    if (kNotOutcomes.contains(kind) || !d->contains("ok")) return true;
    // An outcome (delivered, failed or dropped) settles the oldest intent of the same event.
    std::string k = sink + "|" + key + "|" + kind.substr(std::string_view("incident_").size());
    if (auto it = pending.find(k); it != pending.end() && !it->second.empty()) it->second.pop_front();
    return true;
  });
  DeliveryResume out;
  out.remembered = static_cast<int>(remembered.size());
  if (dry_run) return out;
  for (const auto& k : order)
    for (const auto& p : pending[k]) {
      // An intent written before intents carried the incident cannot be re-sent.
      if (p.incident.empty() || p.run == this_run) continue;
      Incident i = incident_from_json(p.incident);
      std::string sink = k.substr(0, k.find('|'));
      i.actions.push_back(fmt::format("delivery re-sent at start: guard run {} journaled it but never delivered it",
                                      p.run));
      notifier.requeue(i, sink, p.run, p.seq);
      ++out.requeued;
    }
  return out;
}

}  // namespace dg
