#pragma once
/// The post-incident review, written from the journal alone. Two stages: a
/// pure model (ReviewBuilder takes journal records one at a time and keeps
/// only what belongs to an incident, so a journal of months streams through
/// it) and renderers (Markdown, self-contained HTML with an inline SVG
/// timeline). The model adds nothing the journal does not hold: the journal
/// is already redacted, so a review cannot leak what the journal does not.
///
/// Times: TTD and TTM are the engine's own when the journal has them
/// (`policy_recovered`: monotonic, release start → trip / → users recovered);
/// otherwise they are differences of record times (calendar), said so by
/// `times_from`.
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/core/clock.h"

namespace dg::review {

/// One line of the timeline: a journal record, or an observation quoted in
/// a trip's evidence (seq 0).
struct TimelineEntry {
  long long seq = 0;
  std::string time;  ///< RFC 3339, as journaled
  std::optional<TimePoint> at;
  std::string kind;  ///< the record kind, or "observation"
  /// release | signal | trip | action | verification | recovery | failure | incident | alarm | people | other
  std::string category;
  std::string text;  ///< what happened, in one line
};

/// One step the guard took (an `action_intent` and its `action_outcome`).
struct ActionEntry {
  int step = 0;
  std::string action;    ///< flag | undo_flag | rollback
  std::string intent;    ///< what it set out to do
  std::string outcome;   ///< applied | unchanged | failed | conflict | no outcome journaled
  std::string detail;    ///< the outcome's detail, exit code, output or error
  std::string evidence;  ///< the verification of that step: result and reasons
  std::string intent_time, outcome_time;
  long long intent_seq = 0, outcome_seq = 0;
  std::optional<long long> after_trip_ms;  ///< outcome (or intent) − trip
};

/// How one signal fared in the evidence that tripped the policy.
struct SignalImpact {
  std::string signal;
  int failed = 0, judged = 0;  ///< failed of passed+failed observations
};

struct Incident {
  std::string key, policy, service, environment, release, run;
  bool alarm = false;     ///< raised by a person (with or without a policy)
  std::string raised_by;  ///< alarm: who, as journaled
  std::string alarm_reason;
  /// mitigated | mitigation_failed | fixed (mitigation lifted by a fix) | dry_run | open
  std::string state = "open";
  std::string title;

  // impact
  std::string scope;                  ///< who was affected, as the policy or the alarm says
  std::vector<std::string> segments;  ///< the segments the flag steps targeted
  std::string experience;             ///< what users saw: failing expectation and evidence
  std::vector<SignalImpact> signals;
  std::string frequency;               ///< "every time" | "sometimes" | "as reported by a person" | "unknown"
  std::optional<long long> impact_ms;  ///< first failing observation → users recovered
  bool impact_ongoing = false;         ///< not recovered by the last record: impact_ms is a lower bound

  // detection
  std::string signal;  ///< deciding probe or condition; "alarm" when a person raised it
  std::vector<std::string> reasons;
  std::string release_started, first_failure, tripped, recovered;  ///< RFC 3339 ("" unknown)
  long long release_seq = 0;        ///< the record that started the release (release_started or verify_started)
  std::optional<long long> ttd_ms;  ///< release start → trip
  std::optional<long long> ttd_first_failure_ms;  ///< first failing observation → trip
  std::optional<long long> ttm_ms;                ///< release start → users recovered
  std::string times_from;                         ///< "policy_recovered" (the engine's own) or "record times"

  std::vector<ActionEntry> actions;
  std::vector<TimelineEntry> timeline;
  long long last_seq = 0;  ///< the incident's last record
  std::string last_hash;
};

struct Model {
  std::string journal;  ///< the path it was read from (as given)
  long long records = 0;
  long long head_seq = 0;
  std::string head_hash;  ///< the journal's last record: the head that proves the review
  /// Filled by the caller (verify_journal is I/O): "" = not checked.
  std::string chain;
  std::vector<Incident> incidents;  ///< in the order they started
};

/// Streams records into incidents. Not thread-safe. finish() may be called
/// at any point and adding may go on after it (the watcher feeds it the
/// records appended since its last look).
class ReviewBuilder {
 public:
  void add(const boost::json::object& record);
  Model finish() const;
  long long last_seq() const { return model_.head_seq; }

 private:
  Incident* find(const std::string& key);
  void note(Incident& i, const boost::json::object& rec, std::string category, std::string text);
  Model model_;
  std::map<std::string, size_t> by_key_;       ///< incident key → index
  std::map<std::string, std::string> active_;  ///< policy → incident key its records go to
  struct Start {
    std::string time;
    long long seq = 0;
    bool watch = false;  ///< a watcher's start: a release announced since is the better start
  };
  const Start* start_of(const std::string& run, const std::string& service, const std::string& release) const;
  std::map<std::string, Start> run_start_;              ///< run → its verify_started (or a watcher's config_loaded)
  std::map<std::string, Start> release_start_;          ///< service \x1f release → its release_started
  std::map<std::string, std::string> current_release_;  ///< service → its last release_started's release
  std::map<std::string, std::string> policy_service_;   ///< policy → service (release_started lists them)
  std::set<std::string> lifting_;  ///< incidents whose mitigation is being lifted (the fix shipped)
  std::map<std::string, boost::json::object> pending_alarm_;  ///< policy → its alarm_raised record (a trip follows)
};

/// The model of a whole journal (every segment), or an error if it cannot be read.
Model build_from_journal(const std::string& path);

struct Selection {
  std::string incident;            ///< a key; "" = every incident
  std::optional<TimePoint> since;  ///< incidents tripped at or after
};
/// The incidents a selection keeps (a copy of the model with only those).
Model select(Model m, const Selection& s);

/// A duration for people: "1.002 s", "3 min 4.5 s", "2 h 5 min".
std::string human_ms(long long ms);

std::string render_markdown(const Model& m);
/// A self-contained HTML5 document (one inline <style>, no script, inline SVG).
std::string render_html(const Model& m);
/// The CSS render_html() inlines, for a Content-Security-Policy hash.
const std::string& html_style();

/// Parses --since: RFC 3339 (`2026-11-01T00:00:00Z`), a date (`2026-11-01`,
/// UTC midnight) or an age before `now` (`36h`, `7d`, `90m`).
std::optional<TimePoint> parse_since(std::string_view text, TimePoint now);

}  // namespace dg::review
