#pragma once
/// JSON output helpers: indented output for files people read (flagd files,
/// reports) and the compact form for JSON Lines.
#include <boost/json/fwd.hpp>
#include <string>

namespace dg {

std::string pretty_json(const boost::json::value& v, int indent = 2);
std::string compact_json(const boost::json::value& v);

}  // namespace dg
