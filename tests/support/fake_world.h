#pragma once
// A fake "world" for engine and verify tests in simulated time: fake probes
// read it, the fake flag provider and rollback change it, a recording sink
// keeps every incident event.
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/incidents/incident.h"
#include "agent/rollback/rollback_action.h"
#include "flags/flag_provider.h"
#include "probes/probe.h"

namespace dg {
namespace test_fakes {

struct World {
  std::mutex mu;
  bool broken = true;           // the release hurts the zero-plugin segment
  bool dead = false;            // the target does not answer at all
  bool flag_helps = true;       // flipping the flag fixes it
  bool rollback_helps = true;   // rolling back fixes it
  bool rollback_fails = false;  // the rollback command exits non-zero
  bool provider_fails = false;
  int applies = 0, rollbacks = 0, restores = 0;
  bool flag_flipped = false, rolled_back = false;
  std::vector<std::string> incidents;  // events received by the sink
  int runs = 0;
  std::function<void(int)> on_run;  // called with the run count, before the run
};

class FakeProbe final : public Probe {
 public:
  FakeProbe(std::string name, World& w, bool segment) : name_(std::move(name)), w_(w), segment_(segment) {}
  Observation run(const Clock& clock) override {
    std::lock_guard lock(w_.mu);
    if (w_.on_run) w_.on_run(++w_.runs);
    Observation o{.signal = name_, .at = clock.now(), .latency = Duration{3}};
    if (w_.dead) {
      o.outcome = Outcome::Error;
      o.detail = "Connection refused";
      return o;
    }
    bool fixed = w_.rolled_back || (w_.flag_flipped && w_.flag_helps);
    bool failing = segment_ && w_.broken && !fixed;
    o.outcome = failing ? Outcome::Failed : Outcome::Passed;
    o.detail = failing ? "body does not contain \"editor-bootstrap.js\"" : "status 200";
    if (failing) o.excerpt = "<div id=editor></div>";
    return o;
  }

 private:
  std::string name_;
  World& w_;
  bool segment_;
};

class FakeProvider final : public FlagProvider {
 public:
  explicit FakeProvider(World& w) : w_(w) {}
  Result<FlagSnapshot> read(const std::string& flag) override {
    std::lock_guard lock(w_.mu);
    return FlagSnapshot{flag, w_.flag_flipped ? R"({"defaultVariant":"on","targeting":{}})" : R"({"defaultVariant":"on"})"};
  }
  Result<FlagOutcome> apply(const FlagChange& c, const std::optional<FlagSnapshot>&) override {
    std::lock_guard lock(w_.mu);
    ++w_.applies;
    if (w_.provider_fails) return fail("flag file is not valid JSON");
    last_segment = c.segment_jsonlogic;
    if (w_.flag_flipped)
      return FlagOutcome{false, {c.flag, R"({"defaultVariant":"on","targeting":{}})"},
                         {c.flag, R"({"defaultVariant":"on","targeting":{}})"}, "already set"};
    w_.flag_flipped = true;
    return FlagOutcome{true, {c.flag, R"({"defaultVariant":"on"})"}, {c.flag, R"({"defaultVariant":"on","targeting":{}})"}, "wrote flags.json"};
  }
  Result<FlagOutcome> preview(const FlagChange& c) override {
    std::lock_guard lock(w_.mu);
    return FlagOutcome{true, {c.flag, R"({"defaultVariant":"on"})"}, {c.flag, R"({"defaultVariant":"on","targeting":{}})"}, "would write"};
  }
  Result<FlagOutcome> restore(const FlagSnapshot&, const std::optional<FlagSnapshot>&) override {
    std::lock_guard lock(w_.mu);
    ++w_.restores;
    w_.flag_flipped = false;
    return FlagOutcome{true, {}, {}, "restored"};
  }
  std::string last_segment;

 private:
  World& w_;
};

class FakeRollback final : public RollbackAction {
 public:
  explicit FakeRollback(World& w) : w_(w) {}
  Result<RollbackOutcome> run() override {
    std::lock_guard lock(w_.mu);
    ++w_.rollbacks;
    if (w_.rollback_fails) return RollbackOutcome{.ok = false, .exit_code = 1, .output = "helm: error", .detail = "exit code 1"};
    if (w_.rollback_helps) w_.rolled_back = true;
    return RollbackOutcome{.ok = true, .exit_code = 0, .output = "rolled back", .detail = "exit code 0"};
  }

 private:
  World& w_;
};

class RecordingSink final : public IncidentSink {
 public:
  RecordingSink(World& w, std::atomic<bool>* hold = nullptr) : w_(w), hold_(hold) {}
  Result<SinkOutcome> send(const Incident& i) override {
    while (hold_ && hold_->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(w_.mu);
    w_.incidents.push_back(i.event + ":" + i.key + ":" + i.status);
    keys.insert(i.key);
    last = i;
    return SinkOutcome{1, "ok"};
  }
  std::set<std::string> keys;
  Incident last;

 private:
  World& w_;
  std::atomic<bool>* hold_;
};

class NullProgress final : public Progress {
 public:
  void event(const std::string& line) override { events.push_back(line); }
  void status(const std::string&) override {}
  std::vector<std::string> events;
};


}  // namespace test_fakes
using namespace test_fakes;
}  // namespace dg
