#pragma once
/// The pure half of the unleash provider: a flag's state in one environment
/// as deployguard compares and journals it, and the states a kill leads to.
/// No I/O here; unleash_provider.cpp turns the difference between two states
/// into admin API calls.
///
/// State (FlagSnapshot::state_json): {"enabled": bool, "strategies": [...]},
/// each strategy with name, title, disabled, parameters, constraints
/// (normalized: inverted and caseInsensitive spelled out, empty value/values
/// dropped), variants, segments, and for a strategy Unleash already had its id
/// and sortOrder. Strategies deployguard adds carry neither (the server
/// assigns them), so a preview equals what a read shows after the write;
/// they are found again by the marker in their title.
///
/// Segment kill: Unleash ORs strategies, so the segment's users are excluded
/// by ANDing the segment's negation into every strategy. `a or b` negates to
/// `not a and not b` (both inverted constraints in each strategy); `a and b`
/// negates to `not a or not b`, so each strategy S becomes S+¬a (S itself,
/// keeping its id) and a copy S+¬b. Every strategy touched carries the marker
/// `[deployguard segment-kill TAG K/N of ID]` at the end of its title (TAG
/// names the segment, ID the original strategy, `-` when the environment had
/// none, `+` for a strategy another segment's kill added): unkill() strips
/// exactly what kill() added, so a retry or a restart converges instead of
/// adding twice. Kills of two segments on one flag stack, and are undone in
/// reverse order (the engine restores the last flip first).
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "agent/core/error.h"
#include "flags/segment.h"

namespace dg::unleash {

/// The constraint groups that exclude a segment: one group per strategy copy.
/// Terms Unleash cannot express exactly are refused (`!=`: "present and
/// different" has no Unleash constraint whose inversion spares users without
/// the attribute).
Result<std::vector<boost::json::array>> exclusion_groups(const ParsedSegment& segment);

/// Short, stable name of a segment (first 8 hex digits of the SHA-256 of its text).
std::string segment_tag(const std::string& expression);

/// The environment object of `GET .../features/{f}/environments/{env}` as a state.
boost::json::value normalize_env(const boost::json::value& env);
/// One strategy as it appears in a state (for matching raw strategies).
boost::json::object normalize_strategy(const boost::json::object& raw);

/// `state` with the segment excluded (state must not carry this tag: unkill first).
boost::json::value kill_segment(const boost::json::value& state, const std::vector<boost::json::array>& groups,
                                const std::string& tag);
/// `state` with every trace of kill_segment(·, groups, tag) removed.
boost::json::value unkill_segment(const boost::json::value& state, const std::vector<boost::json::array>& groups,
                                  const std::string& tag);
/// Whole-flag kill switch: the environment disabled, strategies kept.
boost::json::value kill_all(const boost::json::value& state);

/// The marker kill_segment puts in a strategy title, parsed ("" tag if none).
struct Marker {
  std::string tag;
  int k = 0, n = 0;
  std::string of;  ///< the original strategy's id, "-" for one added to an empty environment
  std::string base_title;
};
Marker parse_marker(const std::string& title);

}  // namespace dg::unleash
