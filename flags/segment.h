#pragma once
/// Segments: the users a flag change is limited to, written as a condition on
/// the evaluation context, e.g. `pluginCount == 0`,
/// `plan in ["free", "trial"] and pluginCount == 0`. Compiled to JsonLogic, the
/// targeting language of flagd/OpenFeature.
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/error.h"

namespace dg {

/// Returns the JsonLogic JSON text, or an error naming the offending column.
Result<std::string> compile_segment(std::string_view expression);

/// The parsed form, for providers whose targeting is not JsonLogic (Unleash
/// constraints). A user is in the segment only if it has every attribute a
/// term names (as in the JsonLogic form).
struct SegmentLiteral {
  enum class Kind { kString, kNumber, kBool, kNull } kind = Kind::kString;
  std::string text;  ///< the string's value; a number, bool or null as written in JSON
};
struct SegmentTerm {
  std::string attribute;
  std::string op;  ///< ==, !=, <, <=, >, >=, in
  std::vector<SegmentLiteral> values;  ///< one, or the list of `in`
};
struct ParsedSegment {
  /// How the terms combine (one term: kAnd).
  enum class Join { kAnd, kOr } join = Join::kAnd;
  std::vector<SegmentTerm> terms;
};
Result<ParsedSegment> parse_segment(std::string_view expression);

}  // namespace dg
