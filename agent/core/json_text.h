#pragma once
/// JSON output helpers: indented output for files people read (flagd files,
/// reports) and the compact form for JSON Lines.
#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg {

std::string pretty_json(const boost::json::value& v, int indent = 2);
std::string compact_json(const boost::json::value& v);
/// Parses without throwing; allows deep nesting (JsonLogic rules nest deeply).
Result<boost::json::value> parse_json(std::string_view text);
/// For text this program serialized itself: parse, or the text as a JSON string.
boost::json::value embed_json(std::string_view text);
/// A string member of a record, or "" when it is absent or not a string.
std::string string_at(const boost::json::object& o, std::string_view key);

}  // namespace dg
