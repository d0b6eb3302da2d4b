#include "agent/verify/reconcile.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <set>

#include "agent/core/json_text.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (!v) return "";
  return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

const json::object& data_of(const json::object& rec) {
  static const json::object empty;
  const auto* d = rec.if_contains("data");
  return d && d->is_object() ? d->as_object() : empty;
}

long long seq_of(const json::object& rec) {
  const auto* s = rec.if_contains("seq");
  return s && s->is_int64() ? s->as_int64() : 0;
}

// A flag the dead run changed and had not undone yet.
struct Flip {
  std::string provider, flag, policy;
  json::value previous;  ///< before the dead run's flip
  json::value written;   ///< what the flip left
};

struct Trip {
  long long seq = 0;
  std::string policy, key, affected, experience, since, release;
  bool dry = false;
  bool ended = false;  ///< the ladder finished (recovered or failed): its flips are deliberate
  /// When ended: the incident event that closes the trip, and from which seq
  /// on its delivery counts (a delivery of an earlier event is not it).
  std::string final_event, final_status;
  long long ended_seq = 0;
  std::set<std::string> delivered;  ///< sinks that acknowledged the final event
  std::vector<std::string> actions;
};

struct DeadRun {
  std::string id, release;
  long long last_seq = 0;
  bool finished = false;
  std::map<std::string, json::object> open;  ///< policy|step|action -> intent record
  std::map<std::string, Trip> trips;          ///< by policy
  std::vector<Trip> superseded;               ///< older trips of a policy under another key
  std::map<std::string, Flip> flips;          ///< provider|flag -> flip
  std::vector<std::string> order;             ///< intent keys in journal order
  long long first_seq = 0;                     ///< its config_loaded
  struct Delivery {
    long long seq;
    std::string key, event, status, sink;
  };
  std::vector<Delivery> deliveries;  ///< acknowledged incident events, in journal order
};

const PolicySpec* policy_spec(const Config& cfg, const std::string& policy) {
  for (const auto& x : cfg.policies)
    if (x.name == policy) return &x;
  return nullptr;
}

// Sends `event` of an incident to `sinks` (empty: the policy's own sinks, as
// the notifier picks them), stamped now.
void send_event(IncidentNotifier& notifier, const Clock& clock, const Config& cfg, Incident& i,
                const std::string& event, std::vector<std::string> sinks, bool dry_run) {
  i.event = event;
  i.at = clock.now();
  if (sinks.empty())
    if (const PolicySpec* p = policy_spec(cfg, i.policy)) sinks = p->incident_sinks;
  notifier.notify(i, sinks, dry_run);
}

std::string intent_key(const json::object& rec) {
  const auto& d = data_of(rec);
  return str(rec, "policy") + "|" + str(d, "step") + "|" + str(d, "action");
}

std::string describe_action(const json::object& d) {
  std::string action = str(d, "action");
  if (action == "flag") return fmt::format("set flag {} to \"{}\"", str(d, "flag"), str(d, "variant"));
  if (action == "undo_flag") return fmt::format("undo flag {}", str(d, "flag"));
  if (action == "rollback") return fmt::format("rollback {}", str(d, "rollback"));
  return action;
}

Trip* trip_by_key(DeadRun& r, const std::string& key) {
  if (key.empty()) return nullptr;
  for (auto& [p, t] : r.trips)
    if (t.key == key) return &t;
  for (auto& t : r.superseded)
    if (t.key == key) return &t;
  return nullptr;
}

void end_trip(Trip& t, std::string event, std::string status, long long seq) {
  t.ended = true;
  t.final_event = std::move(event);
  t.final_status = std::move(status);
  t.ended_seq = seq;
  t.delivered.clear();
}

// A new trip of a policy: an older one under another key stays tracked (its
// final event may still be owed).
void put_trip(DeadRun& r, Trip t) {
  auto it = r.trips.find(t.policy);
  if (it != r.trips.end() && it->second.key != t.key && !it->second.key.empty()) r.superseded.push_back(it->second);
  r.trips[t.policy] = std::move(t);
}

// The incidents a `reconciled` record says its run took over: each is that
// run's own trip from then on, open until its final event is delivered.
void inherit(DeadRun& r, const json::object& rec) {
  const auto& d = data_of(rec);
  auto add = [&](const json::object& e) {
    std::string key = str(e, "key"), policy = str(e, "policy");
    if (key.empty() || policy.empty()) return;
    Trip* t = trip_by_key(r, key);
    if (!t) {
      Trip fresh;
      fresh.seq = seq_of(rec);
      fresh.policy = policy;
      fresh.key = key;
      put_trip(r, std::move(fresh));
      t = trip_by_key(r, key);
    }
    t->release = str(e, "release");
    t->affected = str(e, "affected");
    t->experience = str(e, "experience");
    if (const auto* a = e.if_contains("actions"); a && a->is_array()) {
      t->actions.clear();
      for (const auto& x : a->as_array())
        if (x.is_string()) t->actions.emplace_back(x.as_string());
    }
    // The reconciling run sends the final event itself, from its start on:
    // its delivery record may precede the `reconciled` record (the notifier
    // runs on its own thread), so any of its deliveries counts.
    if (std::string ev = str(e, "final_event"); !ev.empty()) end_trip(*t, ev, str(e, "status"), r.first_seq);
    if (const auto* fl = e.if_contains("flips"); fl && fl->is_array())
      for (const auto& x : fl->as_array()) {
        if (!x.is_object()) continue;
        const auto& f = x.as_object();
        std::string provider = str(f, "provider"), flag = str(f, "flag");
        if (f.contains("previous_state") && f.contains("written_state"))
          r.flips[provider + "|" + flag] = Flip{provider, flag, policy, f.at("previous_state"), f.at("written_state")};
      }
  };
  if (const auto* list = d.if_contains("incidents"); list && list->is_array()) {
    for (const auto& e : list->as_array())
      if (e.is_object()) add(e.as_object());
  } else if (d.contains("incident")) {
    // Written before the list existed: the continued incident only.
    json::object e{{"key", str(d, "incident")}, {"policy", str(d, "policy")}, {"release", str(d, "release")}};
    if (d.contains("human_needed") && d.at("human_needed") == json::value(true)) {
      e["final_event"] = "updated";
      e["status"] = "mitigation_failed";
    }
    add(e);
  }
}

// Reads the journal into runs, in journal order.
// Streams the journal: memory follows the runs still open, not its length.
// `opened`: per incident key, the sinks that acknowledged its opening event,
// whichever run sent it.
std::vector<DeadRun> interrupted_runs(const std::string& path, const std::string& self,
                                      std::map<std::string, std::set<std::string>>& opened) {
  std::map<std::string, DeadRun> runs;
  std::vector<std::string> order;
  std::set<std::string> closed;
  std::map<std::string, json::object> intents;  // run|key -> intent (to find the provider at the outcome)
  // A watcher writes its checkpoints only when nothing is in flight: what
  // came before one is settled, and a run interrupted later began after it
  // or is the run that wrote it.
  for_each_record_since_checkpoint(path, [&](const json::object& rec) {
    std::string kind = str(rec, "kind"), run = str(rec, "run");
    const auto& d = data_of(rec);
    if (kind == "reconciled") closed.insert(str(d, "run"));
    // A walk that starts at a checkpoint meets the run that wrote it there.
    if ((kind == "config_loaded" || kind == "checkpoint") && !runs.contains(run)) {
      order.push_back(run);
      runs[run].id = run;
      runs[run].release = str(rec, "release");
      runs[run].first_seq = seq_of(rec);
    }
    auto it = runs.find(run);
    if (it == runs.end()) return true;  // not a verify run (e.g. a torn_record_dropped note)
    DeadRun& r = it->second;
    r.last_seq = seq_of(rec);
    std::string policy = str(rec, "policy");
    if (kind == "reconciled") inherit(r, rec);
    // A watch that stopped cleanly (no step in flight) ends its run as verify_finished does.
    bool watch_closed = kind == "watch_stopped" && d.contains("clean") && d.at("clean") == json::value(true);
    if (kind == "verify_finished" || watch_closed) {
      // Its own last record: nothing of a finished run is reconciled.
      r = DeadRun{.id = r.id, .release = r.release, .last_seq = r.last_seq, .finished = true};
      std::erase_if(intents, [&](const auto& kv) { return kv.first.starts_with(run + "\x1f"); });
      return true;
    }
    if (kind == "policy_tripped") {
      Trip t;
      t.seq = seq_of(rec);
      t.policy = policy;
      // A watcher's trip names its release (the run's may have moved on).
      t.release = str(d, "release").empty() ? r.release : str(d, "release");
      t.since = str(d, "since");
      if (const auto* dry = d.if_contains("dry_run"); dry && dry->is_bool()) t.dry = dry->as_bool();
      if (const auto* inc = d.if_contains("incident"); inc && inc->is_object()) {
        t.key = str(inc->as_object(), "key");
        t.affected = str(inc->as_object(), "affected");
        t.experience = str(inc->as_object(), "experience");
      }
      if (t.experience.empty()) {
        if (const auto* reasons = d.if_contains("reasons"); reasons && reasons->is_array() && !reasons->as_array().empty())
          t.experience = reasons->as_array()[0].is_string() ? std::string(reasons->as_array()[0].as_string()) : "";
      }
      // A trip continuing an inherited incident keeps what was done so far.
      if (auto prev = r.trips.find(policy); prev != r.trips.end() && prev->second.key == t.key)
        t.actions = prev->second.actions;
      put_trip(r, std::move(t));
    }
    auto trip = r.trips.find(policy);
    if (kind == "incident_intent" && trip != r.trips.end() && trip->second.key.empty()) trip->second.key = str(d, "key");
    if (kind == "policy_recovered" && trip != r.trips.end()) end_trip(trip->second, "resolved", "mitigated", seq_of(rec));
    if (kind == "mitigation_failed" && trip != r.trips.end())
      end_trip(trip->second, "updated", "mitigation_failed", seq_of(rec));
    if (kind == "interrupted_incident_closed")
      if (Trip* t = trip_by_key(r, str(d, "key"))) end_trip(*t, str(d, "event"), str(d, "status"), seq_of(rec));
    if (kind.starts_with("incident_") && kind != "incident_intent" && kind != "interrupted_incident_closed") {
      // A delivery (notifier.cpp): the final one closes an ended trip (judged
      // after the walk, since a trip may be learnt after its delivery).
      if (d.contains("ok") && d.at("ok") == json::value(true)) {
        r.deliveries.push_back({seq_of(rec), str(d, "key"), kind.substr(9), str(d, "status"), str(d, "sink")});
        if (kind == "incident_opened") opened[str(d, "key")].insert(str(d, "sink"));
      }
    }
    if (kind == "action_intent") {
      std::string k = intent_key(rec);
      r.open[k] = rec;
      r.order.push_back(k);
      intents[run + "\x1f" + k] = rec;
    }
    if (kind == "action_outcome") {
      std::string k = intent_key(rec);
      r.open.erase(k);
      bool ok = d.contains("ok") && d.at("ok").is_bool() && d.at("ok").as_bool();
      std::string action = str(d, "action");
      const auto& intent = intents[run + "\x1f" + k];
      if (trip != r.trips.end())
        trip->second.actions.push_back(fmt::format("{} ({}): {}", describe_action(intent.empty() ? d : data_of(intent)),
                                                   ok ? "applied" : "failed", ok ? str(d, "detail") : str(d, "error")));
      std::string provider = str(data_of(intent), "provider");
      std::string flip_key = provider + "|" + str(d, "flag");
      bool changed = d.contains("changed") && d.at("changed").is_bool() && d.at("changed").as_bool();
      if (action == "flag" && ok && changed && d.contains("previous_state") && d.contains("new_state"))
        r.flips[flip_key] = Flip{provider, str(d, "flag"), policy, d.at("previous_state"), d.at("new_state")};
      if (action == "undo_flag" && ok) r.flips.erase(flip_key);
    }
    return true;
  });
  std::vector<DeadRun> out;
  for (const auto& id : order) {
    DeadRun& r = runs[id];
    if (r.finished || closed.contains(id) || id == self) continue;
    auto judge = [&](Trip& t) {
      t.delivered.clear();
      if (!t.ended) return;
      for (const auto& x : r.deliveries)
        if (x.key == t.key && x.seq > t.ended_seq && x.event == t.final_event &&
            (x.status.empty() || x.status == t.final_status))
          t.delivered.insert(x.sink);
    };
    for (auto& [p, t] : r.trips) judge(t);
    for (auto& t : r.superseded) judge(t);
    out.push_back(std::move(r));
  }
  return out;
}

json::value read_flag(Runtime& rt, const std::string& provider, const std::string& flag, std::string& error) {
  auto it = rt.flag_providers.find(provider);
  if (it == rt.flag_providers.end()) {
    error = fmt::format("flag provider {} is no longer configured", provider);
    return nullptr;
  }
  auto snap = it->second->read(flag);
  if (!snap) {
    error = snap.error().message;
    return nullptr;
  }
  return embed_json(snap->state_json);
}

class Reconciler {
 public:
  Reconciler(const Config& cfg, Runtime& rt, Journal& j, IncidentNotifier& n, const Clock& clock,
             const std::string& release, const std::string& run_id, bool dry, Progress& progress)
      : cfg_(cfg), rt_(rt), journal_(j), notifier_(n), clock_(clock), release_(release), run_(run_id), dry_(dry),
        progress_(progress) {}

  Reconciliation run() {
    auto dead = interrupted_runs(journal_.path(), run_, opened_);
    out_.runs = static_cast<int>(dead.size());
    for (auto& d : dead) reconcile(d);
    return std::move(out_);
  }

 private:
  void warn(std::string line) {
    progress_.event("WARNING: " + line);
    out_.warnings.push_back(std::move(line));
  }

  void append(const std::string& kind, json::object fields) {
    if (!journal_.append(kind, std::move(fields))) out_.journal_failed = true;
  }

  void reconcile(DeadRun& d) {
    json::array findings, intents, flips;
    bool held = false;
    std::vector<std::string> lines;  // for the incident and the report
    progress_.event(fmt::format("run {} (release {}) ended without verify_finished at seq {}: reconciling it", d.id,
                                d.release, d.last_seq));
    for (const auto& k : d.order) {
      auto it = d.open.find(k);
      if (it == d.open.end()) continue;
      const json::object& rec = it->second;
      const json::object& data = data_of(rec);
      std::string action = str(data, "action");
      json::object f{{"intent_seq", seq_of(rec)}, {"policy", str(rec, "policy")}, {"action", action},
                     {"step", data.contains("step") ? data.at("step") : json::value(nullptr)}};
      intents.emplace_back(seq_of(rec));
      std::string found, why;
      if (action == "flag" || action == "undo_flag") {
        std::string provider = str(data, "provider"), flag = str(data, "flag"), error;
        f["flag"] = flag;
        json::value current = read_flag(rt_, provider, flag, error);
        const char* ref = action == "flag" ? "previous_state" : "restore_state";
        if (!error.empty() || !data.contains(ref)) {
          found = "unknown";
          why = error.empty() ? fmt::format("the intent recorded no {}", ref) : "cannot read the flag: " + error;
        } else {
          f["current_state"] = current;
          bool same = current == data.at(ref);
          std::string flip_key = provider + "|" + flag;
          if (action == "flag") {
            // The intent recorded the state it meant to write: the flag holds
            // it (applied), still holds the state before (not applied), or
            // something else — someone changed it since, and it is not ours to
            // overwrite blindly (see the undo rule).
            const json::value* intended = data.if_contains("intended_state");
            if (intended && intended->is_null()) intended = nullptr;  // no preview: judge by previous_state alone
            found = same ? "not_applied" : !intended || current == *intended ? "applied" : "changed_by_someone_else";
            if (found == "applied") d.flips[flip_key] = Flip{provider, flag, str(rec, "policy"), data.at(ref), current};
          } else {
            found = same ? "applied" : "not_applied";
            if (same) d.flips.erase(flip_key);
          }
        }
      } else {
        found = "unknown";
        why = "a command's effect cannot be read back: check by hand whether it ran";
      }
      f["found"] = found;
      if (!why.empty()) f["detail"] = why;
      std::string line = fmt::format("{} (step {}, intent #{}) was interrupted: {}{}", describe_action(data),
                                     str(data, "step"), seq_of(rec), found == "unknown" ? "effect unknown" : found,
                                     why.empty() ? "" : " — " + why);
      if (found == "unknown") {
        held = true;
        warn(fmt::format("run {} died during an action; {}", d.id, line));
      } else {
        progress_.event("  " + line);
      }
      lines.push_back(line);
      findings.push_back(std::move(f));
    }
    if (findings.empty()) lines.push_back(fmt::format("run {} ended after its last outcome, without verify_finished", d.id));

    // Flips the dead run left behind while its ladder was unfinished.
    std::vector<InheritedFlip> kept_states;
    for (auto& [key, flip] : d.flips) {
      auto trip = d.trips.find(flip.policy);
      if (trip != d.trips.end() && trip->second.ended) continue;  // the ladder's own result
      json::object fj{{"provider", flip.provider}, {"flag", flip.flag}, {"policy", flip.policy}};
      const std::string& flip_release = trip != d.trips.end() && !trip->second.release.empty() ? trip->second.release : d.release;
      if (flip_release == release_) {
        fj["decision"] = "kept";
        fj["reason"] = fmt::format("this run verifies the same release {}; the flip stays as the mitigation", release_);
        kept_states.push_back({flip.provider, flip.flag, json::serialize(flip.previous), json::serialize(flip.written)});
        lines.push_back(fmt::format("flag {} kept as run {} left it (same release {})", flip.flag, d.id, release_));
      } else {
        undo(d, flip, fj, lines);
      }
      progress_.event("  " + lines.back());
      flips.push_back(std::move(fj));
    }
    if (held) out_.human_needed = true;

    json::object data{{"run", d.id},        {"release", d.release}, {"last_seq", d.last_seq},
                      {"intents", intents}, {"findings", findings}, {"flips", flips},
                      {"human_needed", held}};
    // What this run takes over: each entry is its own trip from now on, so a
    // run that finds this one dead too continues it (see interrupted_runs).
    json::array taken;
    auto entry = [&](const Incident& i, const std::string& final_event, const std::vector<InheritedFlip>& fl) {
      json::object e{{"policy", i.policy},     {"key", i.key},          {"release", i.release},
                     {"status", i.status},     {"affected", i.scope},   {"experience", i.experience},
                     {"actions", json::array(i.actions.begin(), i.actions.end())}};
      if (!final_event.empty()) e["final_event"] = final_event;
      json::array fa;
      for (const auto& f : fl)
        fa.push_back({{"provider", f.provider}, {"flag", f.flag}, {"previous_state", embed_json(f.previous_state)},
                      {"written_state", embed_json(f.written_state)}});
      e["flips"] = fa;
      taken.push_back(std::move(e));
    };
    // Ladders that ended but whose final event no sink acknowledged (killed
    // before the delivery): that event is sent now.
    json::array caught_up;
    auto catch_up = [&](const Trip& t) {
      if (t.dry || !t.ended || t.key.empty()) return;
      std::vector<std::string> missing;
      for (const auto& s : sinks_of(t.policy))
        if (!t.delivered.contains(s)) missing.push_back(s);
      if (missing.empty()) return;
      Incident i = incident_of(d, t);
      i.status = t.final_status;
      i.actions.push_back(fmt::format("guard run {} was interrupted before this event was delivered; run {} sends it",
                                      d.id, run_));
      send(i, t.final_event, missing);
      lines.push_back(fmt::format("incident {} ({}): final event {} re-sent to {}", t.key, t.policy, t.final_event,
                                  text::join(missing, ", ")));
      progress_.event("  " + lines.back());
      caught_up.push_back({{"policy", t.policy}, {"key", t.key}, {"event", t.final_event}, {"status", t.final_status},
                           {"sinks", json::array(missing.begin(), missing.end())}});
      entry(i, t.final_event, {});
    };
    for (const auto& [p, t] : d.trips) catch_up(t);
    for (const auto& t : d.superseded) catch_up(t);
    if (!caught_up.empty()) data["caught_up"] = caught_up;

    // The dead run's open trip: its incident, continued under the same key.
    const Trip* trip = nullptr;
    for (const auto& [p, t] : d.trips)
      if (!t.ended && !t.dry) trip = &t;
    if (trip) {
      InheritedIncident inh;
      inh.dead_run = d.id;
      inh.held_for_human = held;
      inh.flips = kept_states;
      Incident& i = inh.incident;
      i = incident_of(d, *trip);
      i.actions.push_back(fmt::format("guard run {} was interrupted; run {} continues this incident", d.id, run_));
      for (const auto& l : lines) i.actions.push_back(l);
      i.status = held ? "mitigation_failed" : "mitigating";
      data["incident"] = i.key;
      data["policy"] = trip->policy;
      if (auto prev = out_.incidents.find(trip->policy); prev != out_.incidents.end()) {
        // An older interrupted trip of the same policy: a human takes it.
        Incident& old = prev->second.incident;
        old.status = "mitigation_failed";
        old.actions.push_back(fmt::format("a later guard run ({}) also died; check this incident by hand", d.id));
        send(old, "updated");
        entry(old, "updated", {});
      }
      // A sink that never acknowledged the opening (the dead run was killed
      // between its trip and the delivery) gets it now; the others an update.
      std::vector<std::string> fresh, known;
      for (const auto& sink : sinks_of(trip->policy)) (opened_[i.key].contains(sink) ? known : fresh).push_back(sink);
      if (!fresh.empty()) send(i, "opened", fresh);
      if (!known.empty()) send(i, "updated", known);
      // Held for a human, that update is the incident's last word.
      entry(i, held ? "updated" : "", kept_states);
      out_.incidents[trip->policy] = std::move(inh);
    }
    data["incidents"] = taken;
    if (dry_) {
      data["would"] = "reconcile";
      append("would_have", {{"data", data}});
      return;
    }
    append("reconciled", {{"data", data}});
  }

  Incident incident_of(const DeadRun& d, const Trip& trip) const {
    Incident i;
    std::string release = trip.release.empty() ? d.release : trip.release;
    i.key = !trip.key.empty()
                ? trip.key
                : "dg-" + sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}", cfg_.agent.service, cfg_.agent.environment,
                                                 trip.policy, release, trip.seq, journal_.path()))
                              .substr(0, 24);
    i.title = fmt::format("{}: {} tripped after release {}", cfg_.agent.service, trip.policy, release);
    i.service = cfg_.agent.service;
    i.environment = cfg_.agent.environment;
    i.release = release;
    i.policy = trip.policy;
    i.scope = trip.affected;
    i.experience = trip.experience;
    i.journal = fmt::format("{}#{}", journal_.path(), trip.seq);
    i.actions = trip.actions;
    return i;
  }

  const PolicySpec* spec_of(const std::string& policy) const { return policy_spec(cfg_, policy); }

  // The sinks an incident of this policy goes to (as the notifier picks them).
  std::vector<std::string> sinks_of(const std::string& policy) const {
    const PolicySpec* p = spec_of(policy);
    if (p && !p->incident_sinks.empty()) return p->incident_sinks;
    std::vector<std::string> all;
    for (const auto& [name, s] : rt_.sinks) all.push_back(name);
    return all;
  }

  // Undoes a flip of a run that verified another release, but only if the
  // flag still holds what that run wrote: a later change is someone else's.
  void undo(const DeadRun& d, const Flip& flip, json::object& fj, std::vector<std::string>& lines) {
    std::string error;
    json::value current = read_flag(rt_, flip.provider, flip.flag, error);
    if (!error.empty() || current != flip.written) {
      fj["decision"] = "left";
      fj["reason"] = error.empty() ? "the flag changed since the interrupted run wrote it" : "cannot read it: " + error;
      lines.push_back(fmt::format("flag {} left alone: {}", flip.flag, str(fj, "reason")));
      if (!error.empty()) out_.human_needed = true;
      return;
    }
    fj["decision"] = "undone";
    fj["reason"] = fmt::format("run {} verified release {}, this run verifies {}", d.id, d.release, release_);
    if (dry_) {
      lines.push_back(fmt::format("would restore flag {} (left by run {} for release {})", flip.flag, d.id, d.release));
      return;
    }
    FlagSnapshot snap{flip.flag, json::serialize(flip.previous)};
    // Intent before the side effect, as for every action.
    if (!journal_.append("action_intent",
                         {{"policy", flip.policy},
                          {"data", {{"action", "undo_flag"}, {"step", 0}, {"provider", flip.provider},
                                    {"flag", flip.flag}, {"restore_state", flip.previous}, {"reconciling", d.id}}}})) {
      out_.journal_failed = true;
      fj["decision"] = "left";
      lines.push_back(fmt::format("flag {} left alone: the undo intent could not be journaled", flip.flag));
      return;
    }
    // Compare-and-swap: restored only while the flag still holds what the
    // dead run wrote, even if someone changes it between our read and now.
    auto r = rt_.flag_providers.at(flip.provider)->restore(snap, FlagSnapshot{flip.flag, json::serialize(flip.written)});
    json::object out{{"action", "undo_flag"}, {"step", 0}, {"flag", flip.flag}, {"ok", r.has_value() && !r->conflict}};
    if (r && r->conflict) {
      out["conflict"] = true;
      out["expected_state"] = flip.written;
      out["found_state"] = embed_json(r->previous.state_json);
      out["detail"] = r->detail;
      fj["decision"] = "left";
      fj["reason"] = "the flag changed since the interrupted run wrote it";
    } else if (r) {
      out["changed"] = r->changed;
      out["detail"] = r->detail;
    } else {
      out["error"] = r.error().message;
      out_.human_needed = true;
      warn(fmt::format("could not restore flag {} left by run {}: {}", flip.flag, d.id, r.error().message));
    }
    append("action_outcome", {{"policy", flip.policy}, {"data", out}});
    lines.push_back(fmt::format("flag {} restored (left by run {} for release {}): {}", flip.flag, d.id, d.release,
                                r ? r->detail : r.error().message));
  }

  void send(Incident& i, const std::string& event, std::vector<std::string> sinks = {}) {
    send_event(notifier_, clock_, cfg_, i, event, std::move(sinks), dry_);
  }

  const Config& cfg_;
  Runtime& rt_;
  Journal& journal_;
  IncidentNotifier& notifier_;
  std::map<std::string, std::set<std::string>> opened_;  // incident key -> sinks that acknowledged "opened"
  const Clock& clock_;
  std::string release_, run_;
  bool dry_;
  Progress& progress_;
  Reconciliation out_;
};

}  // namespace

Reconciliation reconcile_interrupted_runs(const Config& config, Runtime& runtime, Journal& journal,
                                          IncidentNotifier& notifier, const Clock& clock, const std::string& release,
                                          const std::string& run_id, bool dry_run, Progress& progress) {
  return Reconciler(config, runtime, journal, notifier, clock, release, run_id, dry_run, progress).run();
}

std::map<std::string, ContinuedIncident> continued_incidents(const Reconciliation& r) {
  std::map<std::string, ContinuedIncident> out;
  for (const auto& [policy, inh] : r.incidents) out[policy] = {inh.incident.key, inh.incident.actions, inh.flips};
  return out;
}

void finish_reconciliation(const Reconciliation& r, const Config& config, VerifyReport& report, Journal& journal,
                           IncidentNotifier& notifier, const Clock& clock, bool dry_run) {
  for (const auto& w : r.warnings) report.warnings.push_back(w);
  for (const auto& [policy, inh] : r.incidents) {
    PolicyResult* pr = nullptr;
    for (auto& p : report.policies)
      if (p.name == policy) pr = &p;
    Incident i = inh.incident;
    std::string event;
    if (pr && pr->incident_key == i.key) {
      // The bake tripped on it and its ladder sent the events; an effect
      // nobody could read back still needs a human, even if users recovered.
      if (inh.held_for_human && pr->state == "mitigated") {
        event = "updated";
        i.status = "mitigation_failed";
        i.actions.push_back("users recovered, but an action of the interrupted run has an unknown effect: check it "
                            "by hand");
      }
    } else if (inh.held_for_human) {
      // Already sent as mitigation_failed at the start: it stays open.
    } else if (pr && pr->state == "healthy") {
      event = "resolved";
      i.status = "mitigated";
      if (!inh.flips.empty()) {
        std::vector<std::string> kept;
        for (const auto& f : inh.flips) kept.push_back(f.flag);
        // Healthy with the interrupted run's flip in place: that flip is the
        // mitigation, so the trip ends as mitigated (exit 1), as it would have.
        i.actions.push_back(fmt::format("release {} judged healthy with flag(s) {} kept: users recovered",
                                        report.release, text::join(kept, ", ")));
        pr->state = "mitigated";
        pr->reasons.push_back(fmt::format("healthy with flag(s) {} kept from interrupted run {}",
                                          text::join(kept, ", "), inh.dead_run));
      } else {
        i.actions.push_back(fmt::format("release {} judged healthy after the interrupted run", report.release));
      }
      pr->incident_key = i.key;
    } else {
      event = "updated";
      i.status = "mitigation_failed";
      i.actions.push_back(fmt::format("policy {} was {} in the run after the interruption: a human must look", policy,
                                      pr ? pr->state : "not configured any more"));
      if (pr) pr->incident_key = i.key;
    }
    if (event.empty()) continue;
    send_event(notifier, clock, config, i, event, {}, dry_run);
    json::object closed{{"key", i.key}, {"event", event}, {"status", i.status}, {"interrupted_run", inh.dead_run}};
    if (dry_run) closed["would"] = "close_interrupted_incident";
    if (!journal.append(dry_run ? "would_have" : "interrupted_incident_closed", {{"policy", policy}, {"data", closed}}))
      report.warnings.push_back("a journal write failed while closing the interrupted run's incident");
  }
  // Exit codes: an effect that cannot be read back needs a human (3, once:
  // this run closed the orphan); a kept flip that proves healthy is a
  // mitigation (1); 3 wins over 1, and 1 over 4.
  bool mitigated = false;
  for (const auto& p : report.policies) mitigated |= p.state == "mitigated";
  if (r.human_needed && dry_run) {
    // A dry run closes nothing, so forcing 3 would fail every dry run after
    // the crash: warn, and at most call this run inconclusive.
    report.warnings.push_back("dry run: an interrupted run needs a human (an effect that cannot be read back); a run "
                              "without dry-run reconciles it and exits 3 once");
    if (report.exit_code == kHealthy) report.exit_code = kInconclusive;
  } else if (r.human_needed) report.exit_code = kMitigationFailed;
  else if (mitigated && (report.exit_code == kHealthy || report.exit_code == kInconclusive))
    report.exit_code = kMitigated;
  if (r.journal_failed && report.exit_code == kHealthy) report.exit_code = kInconclusive;
}

}  // namespace dg
