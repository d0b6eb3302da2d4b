#pragma once
/// IncidentNotifier: delivers incident events to sinks, one worker thread per
/// sink (in order per sink). notify() journals an `incident_intent` per sink
/// before it queues the event (so a restart knows what was pending) and never
/// waits for a sink; the worker retries (delivery.h) and journals the outcome.
/// Thread-safe.
///
/// Rails: a sink's queue is bounded (NotifierOptions::max_queue: when full the
/// oldest "updated" is dropped, journaled; "opened" and "resolved" are never
/// dropped, since a responder's tool would then hold an incident that never
/// opens or never closes); a sink whose deliveries keep failing is marked down
/// (journal record, log line, callback) and tries each event once until one
/// works again; what a sink asked to remember (SinkMemory) is journaled and
/// handed back on later events, reloads and restarts.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/journal/journal.h"

namespace dg {

/// What sinks remembered, per sink and incident key. Shared by the notifiers
/// of one process (a reload builds a new notifier); its JSON goes into the
/// watcher's checkpoint. Thread-safe.
class SinkMemoryStore {
 public:
  boost::json::object get(const std::string& sink, const std::string& key) const;
  void put(const std::string& sink, const std::string& key, boost::json::object data);
  /// {sink: {key: data}}, the newest kMaxKept incidents per sink.
  boost::json::object to_json() const;
  void load(const boost::json::object& o);
  static constexpr size_t kMaxKept = 500;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::pair<long long, boost::json::object>>> data_;
  long long stamp_ = 0;
};

struct NotifierOptions {
  size_t max_queue = 100;  ///< per sink, events waiting (opened/resolved may exceed it)
  int down_after = 3;      ///< consecutive failed events before a sink is marked down
  /// One line per state change and give-up; never a secret (details are redacted).
  std::function<void(const std::string&)> log;
  /// A sink went down (true) or came back (false): metrics.
  std::function<void(const std::string& sink, bool down)> on_sink_state;
  std::shared_ptr<SinkMemoryStore> memory;  ///< null: the notifier's own
};

class IncidentNotifier {
 public:
  /// `sinks` must outlive the notifier.
  IncidentNotifier(std::map<std::string, IncidentSink*> sinks, Journal& journal, NotifierOptions options = {});
  ~IncidentNotifier();

  /// Queues the event for the named sinks (all sinks when empty). In dry-run
  /// it only journals what would have been sent.
  void notify(const Incident& incident, const std::vector<std::string>& sink_names, bool dry_run);
  /// Re-queues an event an earlier run journaled but never delivered (its
  /// intent has no outcome): no new intent, an `incident_requeued` record.
  void requeue(const Incident& incident, const std::string& sink, const std::string& of_run, long long intent_seq);
  /// Queues a heartbeat on every sink that sends one (never journaled).
  void heartbeat();
  /// The shortest heartbeat period of the sinks; none when no sink sends one.
  std::optional<Duration> heartbeat_every() const;
  /// Waits until the queue is empty or `max_wait` passed; returns true if empty.
  bool flush(Duration max_wait);
  /// Per sink: how many events were delivered, failed or are still pending.
  std::vector<std::string> delivery_report() const;
  /// Sinks currently marked down.
  std::vector<std::string> down_sinks() const;
  SinkMemoryStore& memory();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct DeliveryResume {
  int requeued = 0;    ///< events re-queued
  int remembered = 0;  ///< incidents whose sink memory was restored
};

/// At start, before reconciliation: restores what sinks remembered and
/// re-queues every event an earlier run journaled (incident_intent) but whose
/// delivery no record settles (no outcome: killed, or stopped with a queue).
/// Events a record shows delivered, failed or dropped are never sent again.
/// Reads from the last checkpoint on (its `incident_sinks` section holds the
/// memory of everything before it). Called by verify and watch. A dry run
/// only restores the memory: it sends nothing, not even what is owed.
DeliveryResume resume_deliveries(IncidentNotifier& notifier, const std::string& journal_path,
                                 const std::string& this_run, bool dry_run = false);

}  // namespace dg
