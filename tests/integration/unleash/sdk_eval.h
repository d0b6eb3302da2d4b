#pragma once
// Evaluates a flag from Unleash's client API for one context the way the
// SDKs do: on when the environment is enabled and any enabled strategy
// matches (no strategies: on), a strategy matching when every constraint
// does (an absent context field never matches; `inverted` flips the result).
// Only what the tests use: default and flexibleRollout at 100 %, IN / NOT_IN
// and the NUM_* operators.
#include <boost/json.hpp>
#include <cstdlib>
#include <map>
#include <string>

namespace dg::test {

using Context = std::map<std::string, std::string>;

inline bool constraint_holds(const boost::json::object& c, const Context& ctx) {
  std::string op(c.at("operator").as_string());
  auto it = ctx.find(std::string(c.at("contextName").as_string()));
  bool inverted = c.contains("inverted") && c.at("inverted").as_bool();
  bool r = false;
  if (it != ctx.end()) {
    if (op == "IN" || op == "NOT_IN") {
      bool in = false;
      for (const auto& v : c.at("values").as_array()) in = in || v.as_string() == it->second;
      r = op == "IN" ? in : !in;
    } else {
      double have = std::strtod(it->second.c_str(), nullptr);
      double want = std::strtod(std::string(c.at("value").as_string()).c_str(), nullptr);
      r = op == "NUM_EQ" ? have == want : op == "NUM_LT" ? have < want : op == "NUM_LTE" ? have <= want
        : op == "NUM_GT" ? have > want : op == "NUM_GTE" ? have >= want : false;
    }
  } else if (op == "NOT_IN") {
    r = true;
  }
  return inverted ? !r : r;
}

inline bool sdk_enabled(const boost::json::object& feature, const Context& ctx) {
  if (feature.empty() || !feature.at("enabled").as_bool()) return false;
  const auto& strategies = feature.at("strategies").as_array();
  if (strategies.empty()) return true;
  for (const auto& sv : strategies) {
    const auto& s = sv.as_object();
    if (s.contains("disabled") && s.at("disabled").is_bool() && s.at("disabled").as_bool()) continue;
    bool all = true;
    if (s.contains("constraints"))
      for (const auto& c : s.at("constraints").as_array()) all = all && constraint_holds(c.as_object(), ctx);
    if (all) return true;
  }
  return false;
}

}  // namespace dg::test
