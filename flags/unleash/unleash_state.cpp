#include "flags/unleash/unleash_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "agent/core/sha256.h"

namespace dg::unleash {
namespace json = boost::json;
namespace {

constexpr std::string_view kMarkerStart = "[deployguard segment-kill ";

std::string str_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : "";
}

json::object constraint(const std::string& attribute, const std::string& op, const std::vector<std::string>& values,
                        bool single, bool inverted) {
  json::object c{{"contextName", attribute}, {"operator", op}, {"inverted", inverted}, {"caseInsensitive", false}};
  if (single) c["value"] = values.front();
  else c["values"] = json::array(values.begin(), values.end());
  return c;
}

// The term as the constraint that matches exactly its users (before the kill inverts it).
Result<json::object> term_constraint(const SegmentTerm& t) {
  using Kind = SegmentLiteral::Kind;
  for (const auto& v : t.values)
    if (v.kind == Kind::kNull)
      return fail(fmt::format("segment term on {}: Unleash constraints cannot compare with null", t.attribute));
  if (t.op == "!=")
    return fail(fmt::format("segment term `{} != …`: Unleash has no constraint for \"has {} and it differs\" whose "
                            "inversion spares users without it; write the segment with == or in",
                            t.attribute, t.attribute));
  std::vector<std::string> texts;
  for (const auto& v : t.values) texts.push_back(v.text);
  if (t.op == "in") return constraint(t.attribute, "IN", texts, false, false);
  const SegmentLiteral& v = t.values.front();
  if (t.op == "==") {
    if (v.kind == Kind::kNumber) return constraint(t.attribute, "NUM_EQ", texts, true, false);
    return constraint(t.attribute, "IN", texts, false, false);  // Unleash context values are strings
  }
  if (v.kind != Kind::kNumber)
    return fail(fmt::format("segment term on {}: {} needs a number for Unleash", t.attribute, t.op));
  const char* op = t.op == "<" ? "NUM_LT" : t.op == "<=" ? "NUM_LTE" : t.op == ">" ? "NUM_GT" : "NUM_GTE";
  return constraint(t.attribute, op, texts, true, false);
}

std::string marker(const std::string& tag, size_t k, size_t n, const std::string& of) {
  return fmt::format("{}{} {}/{} of {}]", kMarkerStart, tag, k, n, of);
}

// Canonical order: by the original strategy (id or marker's `of`), then K.
void sort_strategies(json::array& a) {
  auto key = [](const json::value& v) {
    const json::object& o = v.get_object();
    Marker m = parse_marker(str_of(o, "title"));
    std::string id = str_of(o, "id");
    return std::make_tuple(id.empty() ? m.of : id, m.k, str_of(o, "title"));
  };
  std::stable_sort(a.begin(), a.end(), [&](const json::value& x, const json::value& y) { return key(x) < key(y); });
}

json::object default_strategy() {
  return json::object{{"name", "flexibleRollout"},
                      {"title", ""},
                      {"disabled", false},
                      {"parameters", json::object{{"rollout", "100"}, {"stickiness", "default"}, {"groupId", ""}}},
                      {"constraints", json::array{}},
                      {"variants", json::array{}},
                      {"segments", json::array{}}};
}

}  // namespace

Result<std::vector<json::array>> exclusion_groups(const ParsedSegment& segment) {
  std::vector<json::object> inverted;
  for (const auto& t : segment.terms) {
    auto c = term_constraint(t);
    if (!c) return std::unexpected(c.error());
    (*c)["inverted"] = true;
    inverted.push_back(std::move(*c));
  }
  std::vector<json::array> groups;
  if (segment.join == ParsedSegment::Join::kOr || inverted.size() == 1) {
    groups.emplace_back(inverted.begin(), inverted.end());
  } else {
    for (auto& c : inverted) groups.push_back(json::array{std::move(c)});
  }
  return groups;
}

std::string segment_tag(const std::string& expression) { return sha256_hex(expression).substr(0, 8); }

Marker parse_marker(const std::string& title) {
  Marker m;
  m.base_title = title;
  size_t at = title.rfind(kMarkerStart);
  if (at == std::string::npos || title.empty() || title.back() != ']') return m;
  std::string inner = title.substr(at + kMarkerStart.size(), title.size() - 1 - at - kMarkerStart.size());
  char tag[64] = {}, of[128] = {};
  int k = 0, n = 0;
  if (std::sscanf(inner.c_str(), "%63s %d/%d of %127[^]]", tag, &k, &n, of) != 4 || k < 1 || n < k) return m;
  m.tag = tag;
  m.k = k;
  m.n = n;
  m.of = of;
  m.base_title = title.substr(0, at);
  if (!m.base_title.empty() && m.base_title.back() == ' ') m.base_title.pop_back();
  return m;
}

json::object normalize_strategy(const json::object& raw) {
  json::object s;
  std::string title = str_of(raw, "title");
  bool ours = !parse_marker(title).tag.empty() && parse_marker(title).k > 1;
  bool added = !parse_marker(title).tag.empty() && parse_marker(title).of == "-";
  if (!ours && !added) {
    if (const auto* id = raw.if_contains("id")) s["id"] = *id;
    if (const auto* so = raw.if_contains("sortOrder")) s["sortOrder"] = *so;
  }
  s["name"] = str_of(raw, "name");
  s["title"] = title;
  const json::value* d = raw.if_contains("disabled");
  s["disabled"] = d && d->is_bool() && d->get_bool();
  const json::value* p = raw.if_contains("parameters");
  s["parameters"] = p && p->is_object() ? *p : json::object{};
  json::array constraints;
  if (const auto* cs = raw.if_contains("constraints"); cs && cs->is_array()) {
    for (const auto& cv : cs->get_array()) {
      if (!cv.is_object()) continue;
      const json::object& c = cv.get_object();
      json::object n{{"contextName", str_of(c, "contextName")}, {"operator", str_of(c, "operator")}};
      const json::value* inv = c.if_contains("inverted");
      n["inverted"] = inv && inv->is_bool() && inv->get_bool();
      const json::value* ci = c.if_contains("caseInsensitive");
      n["caseInsensitive"] = ci && ci->is_bool() && ci->get_bool();
      if (const auto* v = c.if_contains("value"); v && v->is_string() && !v->get_string().empty()) n["value"] = *v;
      if (const auto* v = c.if_contains("values"); v && v->is_array() && !v->get_array().empty()) n["values"] = *v;
      constraints.push_back(std::move(n));
    }
  }
  s["constraints"] = std::move(constraints);
  const json::value* variants = raw.if_contains("variants");
  s["variants"] = variants && variants->is_array() ? *variants : json::array{};
  const json::value* segments = raw.if_contains("segments");
  s["segments"] = segments && segments->is_array() ? *segments : json::array{};
  return s;
}

json::value normalize_env(const json::value& env) {
  json::object out;
  const json::object* o = env.if_object();
  const json::value* enabled = o ? o->if_contains("enabled") : nullptr;
  out["enabled"] = enabled && enabled->is_bool() && enabled->get_bool();
  json::array strategies;
  if (const json::value* s = o ? o->if_contains("strategies") : nullptr; s && s->is_array())
    for (const auto& v : s->get_array())
      if (v.is_object()) strategies.push_back(normalize_strategy(v.get_object()));
  sort_strategies(strategies);
  out["strategies"] = std::move(strategies);
  return out;
}

json::value kill_segment(const json::value& state, const std::vector<json::array>& groups, const std::string& tag) {
  json::value out = state;
  json::array& strategies = out.as_object()["strategies"].as_array();
  json::array next;
  size_t n = groups.size();
  auto add = [&](json::object s, const std::string& of) {
    std::string base = str_of(s, "title");
    for (size_t k = 1; k <= n; ++k) {
      json::object copy = s;
      json::array& cs = copy["constraints"].as_array();
      for (const auto& c : groups[k - 1]) cs.push_back(c);
      copy["title"] = (base.empty() ? "" : base + " ") + marker(tag, k, n, of);
      if (k > 1 || of == "-") {
        copy.erase("id");
        copy.erase("sortOrder");
      }
      next.push_back(std::move(copy));
    }
  };
  // An enabled environment without strategies is on for everyone: the kill
  // gives it the equivalent strategy (100 %), with the segment excluded.
  if (strategies.empty()) add(default_strategy(), "-");
  for (const auto& v : strategies) {
    const json::object& s = v.get_object();
    std::string id = str_of(s, "id");
    add(s, id.empty() ? "+" : id);  // "+": a strategy another kill added (it has no id in a state)
  }
  sort_strategies(next);
  strategies = std::move(next);
  return out;
}

json::value unkill_segment(const json::value& state, const std::vector<json::array>& groups, const std::string& tag) {
  json::value out = state;
  json::array& strategies = out.as_object()["strategies"].as_array();
  json::array kept;
  for (const auto& v : strategies) {
    json::object s = v.get_object();
    Marker m = parse_marker(str_of(s, "title"));
    if (m.tag != tag) {
      kept.push_back(std::move(s));
      continue;
    }
    if (m.k > 1 || m.of == "-") continue;  // a copy or an addition: ours alone
    // The original: drop the constraints kill_segment appended (when they are still there).
    json::array& cs = s["constraints"].as_array();
    const json::array& added = groups.front();
    if (cs.size() >= added.size() &&
        std::equal(added.begin(), added.end(), cs.end() - static_cast<std::ptrdiff_t>(added.size())))
      cs.erase(cs.end() - static_cast<std::ptrdiff_t>(added.size()), cs.end());
    s["title"] = m.base_title;
    kept.push_back(std::move(s));
  }
  sort_strategies(kept);
  strategies = std::move(kept);
  return out;
}

json::value kill_all(const json::value& state) {
  json::value out = state;
  out.as_object()["enabled"] = false;
  return out;
}

}  // namespace dg::unleash
