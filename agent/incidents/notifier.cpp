#include "agent/incidents/notifier.h"

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "agent/core/text.h"

namespace dg {

// One worker per sink: a dead or slow sink delays only its own deliveries,
// never another sink's and never the ladder.
struct IncidentNotifier::Impl {
  struct Worker {
    std::string name;
    IncidentSink* sink = nullptr;
    std::deque<Incident> queue;
    bool busy = false;
    std::string last_error;  // empty when the last delivery worked
    int delivered = 0, failed = 0;
    std::thread thread;
  };
  Journal& journal;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::map<std::string, std::unique_ptr<Worker>> workers;

  Impl(const std::map<std::string, IncidentSink*>& sinks, Journal& j) : journal(j) {
    for (const auto& [name, sink] : sinks) {
      auto w = std::make_unique<Worker>();
      w->name = name;
      w->sink = sink;
      workers[name] = std::move(w);
    }
    for (auto& [name, w] : workers) w->thread = std::thread([this, wp = w.get()] { loop(*wp); });
  }

  void loop(Worker& w) {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || !w.queue.empty(); });
      if (stop) {
        // Shutting down after flush() gave up: say what was not delivered.
        for (const auto& i : w.queue)
          (void)journal.append("incident_" + i.event,
                               {{"policy", i.policy},
                                {"data", {{"sink", w.name}, {"key", i.key}, {"ok", false},
                                          {"error", "not delivered: the agent stopped first"}}}});
        if (!w.queue.empty()) {
          w.failed += static_cast<int>(w.queue.size());
          w.last_error = "not delivered: the agent stopped first";
        }
        w.queue.clear();
        return;
      }
      Incident incident = std::move(w.queue.front());
      w.queue.pop_front();
      w.busy = true;
      lock.unlock();
      std::string error = deliver(w, std::move(incident));
      lock.lock();
      w.busy = false;
      if (error.empty()) {
        ++w.delivered;
        w.last_error.clear();
      } else {
        ++w.failed;
        w.last_error = error;
      }
      cv.notify_all();
    }
  }

  std::string deliver(Worker& w, Incident i) {
    (void)journal.append("incident_intent",
                         {{"policy", i.policy}, {"data", {{"sink", w.name}, {"key", i.key}, {"event", i.event}}}});
    // The payload names a record the journal holds from now on (at least
    // this intent), so a later truncation or rewrite is detectable from it.
    i.journal_head = journal.head().str();
    auto r = w.sink->send(i);
    // The status tells a final event from an earlier one of the same kind
    // (reconcile.cpp re-sends a final event a killed run never delivered).
    boost::json::object data{{"sink", w.name}, {"key", i.key}, {"status", i.status}, {"ok", r.has_value()}};
    if (r) {
      data["attempts"] = r->attempts;
      data["detail"] = r->detail;
    } else {
      data["error"] = r.error().message;
    }
    (void)journal.append("incident_" + i.event, {{"policy", i.policy}, {"data", data}});
    return r ? "" : r.error().message;
  }

  bool idle() const {
    for (const auto& [n, w] : workers)
      if (!w->queue.empty() || w->busy) return false;
    return true;
  }
};

IncidentNotifier::IncidentNotifier(std::map<std::string, IncidentSink*> sinks, Journal& journal)
    : impl_(std::make_unique<Impl>(sinks, journal)) {}

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
  std::lock_guard lock(impl_->mu);
  for (const auto& name : names)
    if (auto it = impl_->workers.find(name); it != impl_->workers.end()) it->second->queue.push_back(incident);
  impl_->cv.notify_all();
}

bool IncidentNotifier::flush(Duration max_wait) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, max_wait, [&] { return impl_->idle(); });
}

std::vector<std::string> IncidentNotifier::delivery_report() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [name, w] : impl_->workers) {
    if (w->delivered == 0 && w->failed == 0 && w->queue.empty() && !w->busy) continue;
    std::string line = name + ": " + std::to_string(w->delivered) + " delivered";
    if (w->failed) line += ", " + std::to_string(w->failed) + " FAILED (last: " + w->last_error + ")";
    if (!w->queue.empty() || w->busy) line += ", still pending";
    out.push_back(line);
  }
  return out;
}

}  // namespace dg
