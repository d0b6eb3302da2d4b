#include "agent/incidents/notifier.h"

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "agent/core/text.h"

namespace dg {

struct IncidentNotifier::Impl {
  struct Job {
    Incident incident;
    std::string sink;
  };
  std::map<std::string, IncidentSink*> sinks;
  Journal& journal;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> queue;
  bool busy = false;
  bool stop = false;
  std::thread worker;

  Impl(std::map<std::string, IncidentSink*> s, Journal& j) : sinks(std::move(s)), journal(j) {
    worker = std::thread([this] { loop(); });
  }

  void loop() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || !queue.empty(); });
      if (stop) {
        // Shutting down after flush() gave up: say what was not delivered.
        for (const auto& job : queue)
          (void)journal.append("incident_" + job.incident.event,
                               {{"policy", job.incident.policy},
                                {"data", {{"sink", job.sink}, {"key", job.incident.key}, {"ok", false},
                                          {"error", "not delivered: the agent stopped first"}}}});
        queue.clear();
        return;
      }
      Job job = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      deliver(job);
      lock.lock();
      busy = false;
      cv.notify_all();
    }
  }

  void deliver(const Job& job) {
    const Incident& i = job.incident;
    boost::json::object base{{"policy", i.policy}, {"data", {{"sink", job.sink}, {"key", i.key}, {"event", i.event}}}};
    (void)journal.append("incident_intent", base);
    auto r = sinks.at(job.sink)->send(i);
    boost::json::object data{{"sink", job.sink}, {"key", i.key}, {"ok", r.has_value()}};
    if (r) {
      data["attempts"] = r->attempts;
      data["detail"] = r->detail;
    } else {
      data["error"] = r.error().message;
    }
    (void)journal.append("incident_" + i.event, {{"policy", i.policy}, {"data", data}});
  }
};

IncidentNotifier::IncidentNotifier(std::map<std::string, IncidentSink*> sinks, Journal& journal)
    : impl_(std::make_unique<Impl>(std::move(sinks), journal)) {}

IncidentNotifier::~IncidentNotifier() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

void IncidentNotifier::notify(const Incident& incident, const std::vector<std::string>& sink_names, bool dry_run) {
  std::vector<std::string> names = sink_names;
  if (names.empty())
    for (const auto& [name, sink] : impl_->sinks) names.push_back(name);
  if (dry_run) {
    for (const auto& name : names)
      (void)impl_->journal.append(
          "would_have", {{"policy", incident.policy},
                         {"data", {{"action", "incident_" + incident.event}, {"sink", name}, {"key", incident.key},
                                   {"title", incident.title}, {"affected", incident.scope}}}});
    return;
  }
  std::lock_guard lock(impl_->mu);
  for (const auto& name : names) impl_->queue.push_back({incident, name});
  impl_->cv.notify_all();
}

bool IncidentNotifier::flush(Duration max_wait) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, max_wait, [&] { return impl_->queue.empty() && !impl_->busy; });
}

}  // namespace dg
