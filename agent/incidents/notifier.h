#pragma once
/// IncidentNotifier: delivers incident events to sinks, one worker thread per
/// sink (in order per sink), journaling intent before and outcome after each
/// delivery. notify() never blocks on a sink. Thread-safe.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/incidents/incident.h"
#include "agent/journal/journal.h"

namespace dg {

class IncidentNotifier {
 public:
  /// `sinks` must outlive the notifier.
  IncidentNotifier(std::map<std::string, IncidentSink*> sinks, Journal& journal);
  ~IncidentNotifier();

  /// Queues the event for the named sinks (all sinks when empty). In dry-run
  /// it only journals what would have been sent.
  void notify(const Incident& incident, const std::vector<std::string>& sink_names, bool dry_run);
  /// Waits until the queue is empty or `max_wait` passed; returns true if empty.
  bool flush(Duration max_wait);
  /// Per sink: how many events were delivered, failed or are still pending.
  std::vector<std::string> delivery_report() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg
