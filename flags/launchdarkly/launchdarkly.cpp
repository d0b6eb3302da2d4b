#include "flags/launchdarkly/launchdarkly.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {

namespace json = boost::json;

namespace {

Result<void> add_comparison(const json::value& v, const std::string& kind, json::array& clauses) {
  if (!v.is_object() || v.as_object().size() != 1) return fail("unsupported segment term");
  const auto& [op, args] = *v.as_object().begin();
  if (op == "and") {
    for (const auto& t : args.as_array())
      if (auto r = add_comparison(t, kind, clauses); !r) return r;
    return {};
  }
  if (!args.is_array() || args.as_array().size() != 2 || !args.as_array()[0].is_object())
    return fail(fmt::format("unsupported segment operator {}", std::string(op)));
  const auto& a = args.as_array();
  std::string attr = string_at(a[0].as_object(), "var");
  if (attr.empty()) return fail("a segment comparison needs an attribute");
  // The presence check the compiler adds: a clause on a missing attribute
  // never matches in LaunchDarkly, so it is implied.
  if (op == "!==" && a[1].is_null()) return {};
  static const std::map<std::string, std::pair<std::string, bool>> kOps = {
      {"===", {"in", false}},          {"!==", {"in", true}},          {"in", {"in", false}},
      {"<", {"lessThan", false}},      {"<=", {"lessThanOrEqual", false}},
      {">", {"greaterThan", false}},   {">=", {"greaterThanOrEqual", false}}};
  auto it = kOps.find(std::string(op));
  if (it == kOps.end()) return fail(fmt::format("segment operator {} has no LaunchDarkly clause", std::string(op)));
  json::array values = a[1].is_array() ? a[1].as_array() : json::array{a[1]};
  clauses.push_back({{"contextKind", kind}, {"attribute", attr}, {"op", it->second.first},
                     {"negate", it->second.second}, {"values", std::move(values)}});
  return {};
}

}  // namespace

Result<std::vector<json::array>> launchdarkly_clauses(const std::string& segment_jsonlogic, const std::string& kind) {
  auto v = parse_json(segment_jsonlogic);
  if (!v) return std::unexpected(v.error());
  std::vector<json::value> terms;
  if (v->is_object() && v->as_object().size() == 1 && v->as_object().begin()->key() == "or")
    for (const auto& t : v->as_object().begin()->value().as_array()) terms.push_back(t);
  else
    terms.push_back(*v);
  std::vector<json::array> out;
  for (const auto& t : terms) {
    json::array clauses;
    if (auto r = add_comparison(t, kind, clauses); !r) return std::unexpected(r.error());
    out.push_back(std::move(clauses));
  }
  return out;
}

namespace {

constexpr std::string_view kOurs = "deployguard: ";

class LaunchDarklyProvider final : public FlagProvider {
 public:
  explicit LaunchDarklyProvider(LaunchDarklySpec s) : s_(std::move(s)) {
    secrets::add(s_.api_token);  // also when built without the decoder
    while (s_.base_url.ends_with('/')) s_.base_url.pop_back();
  }

  Result<FlagSnapshot> read(const std::string& flag) override {
    auto f = fetch(flag);
    if (!f) return std::unexpected(f.error());
    return snapshot(flag, *f);
  }

  Result<FlagOutcome> apply(const FlagChange& change, const std::optional<FlagSnapshot>& expected) override {
    return write(change, expected, false);
  }
  Result<FlagOutcome> preview(const FlagChange& change) override { return write(change, std::nullopt, true); }

  Result<FlagOutcome> restore(const FlagSnapshot& snap, const std::optional<FlagSnapshot>& expected) override {
    auto f = fetch(snap.flag);
    if (!f) return std::unexpected(f.error());
    FlagOutcome out;
    out.previous = snapshot(snap.flag, *f);
    out.current = out.previous;
    if (same_state(out.previous, snap)) {
      out.detail = "already in the journaled state";
      return out;
    }
    if (expected && !same_state(*expected, out.previous)) return conflict(std::move(out));
    auto want = parse_json(snap.state_json);
    if (!want || !want->is_object()) return fail(fmt::format("invalid snapshot of flag {}", snap.flag));
    const json::object& env = environment(*f);
    json::array ins;
    // Our rules that the snapshot does not hold go; nobody else's rule is touched.
    std::set<std::string> keep;
    if (const auto* rules = want->as_object().if_contains("rules"); rules && rules->is_array())
      for (const auto& r : rules->as_array())
        if (r.is_object()) keep.insert(string_at(r.as_object(), "description"));
    if (const auto* rules = env.if_contains("rules"); rules && rules->is_array())
      for (const auto& r : rules->as_array()) {
        std::string d = string_at(r.as_object(), "description");
        if (d.starts_with(kOurs) && !keep.contains(d)) ins.push_back(json::object{{"kind", "removeRule"}, {"ruleId", string_at(r.as_object(), "_id")}});
      }
    const auto* on = want->as_object().if_contains("on");
    if (on && on->is_bool() && *on != env.at("on"))
      ins.push_back(json::object{{"kind", on->as_bool() ? "turnFlagOn" : "turnFlagOff"}});
    return patch(snap.flag, std::move(ins), "deployguard: restore the state before its change", std::move(out));
  }

 private:
  Result<FlagOutcome> write(const FlagChange& change, const std::optional<FlagSnapshot>& expected, bool dry) {
    auto f = fetch(change.flag);
    if (!f) return std::unexpected(f.error());
    FlagOutcome out;
    out.previous = snapshot(change.flag, *f);
    out.current = out.previous;
    const json::object& env = environment(*f);
    json::array ins;
    if (change.segment_jsonlogic.empty()) {
      if (env.at("on") == json::value(true)) ins.push_back(json::object{{"kind", "turnFlagOff"}});
    } else {
      auto rules = launchdarkly_clauses(change.segment_jsonlogic, s_.context_kind);
      if (!rules) return fail(fmt::format("segment {} cannot be a LaunchDarkly rule: {}", change.segment, rules.error().message));
      std::string off_id = off_variation_id(*f);
      if (off_id.empty()) return fail(fmt::format("flag {} has no off variation in {}", change.flag, s_.environment));
      std::string first_rule;
      std::set<std::string> present;
      if (const auto* rs = env.if_contains("rules"); rs && rs->is_array())
        for (const auto& r : rs->as_array()) {
          if (first_rule.empty()) first_rule = string_at(r.as_object(), "_id");
          present.insert(string_at(r.as_object(), "description"));
        }
      // Converged by description: a rule already there is not added again.
      // Inserted in order before the first existing rule, so ours come first.
      for (size_t k = 0; k < rules->size(); ++k) {
        std::string d = description(change, k, rules->size());
        if (present.contains(d)) continue;
        json::object add{{"kind", "addRule"}, {"description", d}, {"clauses", (*rules)[k]}, {"variationId", off_id}};
        if (!first_rule.empty()) add["beforeRuleId"] = first_rule;
        ins.push_back(std::move(add));
      }
    }
    if (ins.empty()) {
      out.detail = "already in the desired state";
      return out;
    }
    if (expected && !same_state(*expected, out.previous)) return conflict(std::move(out));
    if (dry) {
      out.changed = true;
      out.detail = fmt::format("would send {} instruction(s)", ins.size());
      return out;
    }
    return patch(change.flag, std::move(ins),
                 change.segment.empty() ? "deployguard: kill switch" : "deployguard: off for " + change.segment,
                 std::move(out));
  }

  std::string description(const FlagChange& c, size_t k, size_t n) const {
    std::string d = fmt::format("{}{} off for {}", kOurs, c.flag, c.segment.empty() ? c.segment_jsonlogic : c.segment);
    if (n > 1) d += fmt::format(" ({}/{})", k + 1, n);
    return d;
  }

  Result<FlagOutcome> patch(const std::string& flag, json::array ins, const std::string& comment, FlagOutcome out) {
    if (ins.empty()) {
      out.detail = "already in the desired state";
      return out;
    }
    std::string body = json::serialize(
        json::object{{"comment", comment}, {"environmentKey", s_.environment}, {"instructions", std::move(ins)}});
    HttpRequest req = request("PATCH", flag_url(flag), body);
    req.headers.emplace_back("Content-Type", "application/json; domain-model=launchdarkly.semanticpatch");
    Result<HttpResponse> last = fail("not sent");
    int n = 0;
    Attempt a = with_retries(
        s_.retry,
        [&] {
          last = http_perform(req);
          return classify_http(last, std::chrono::system_clock::now(), {409});
        },
        &n);
    if (!a.ok()) return fail(fmt::format("LaunchDarkly PATCH {}: {}", flag, a.detail));
    auto v = parse_json(last->body);
    if (!v || !v->is_object() || !v->as_object().contains("environments"))
      return fail(fmt::format("LaunchDarkly PATCH {}: answer is not a flag", flag));
    out.current = snapshot(flag, v->as_object());
    out.changed = !same_state(out.previous, out.current);
    out.detail = fmt::format("LaunchDarkly {}/{} in {} patched ({} attempt(s))", s_.project, flag, s_.environment, n);
    return out;
  }

  static Result<FlagOutcome> conflict(FlagOutcome out) {
    out.conflict = true;
    out.detail = "the flag changed since it was journaled; left as it is";
    return out;
  }

  std::string flag_url(const std::string& flag) const {
    return fmt::format("{}/api/v2/flags/{}/{}", s_.base_url, text::url_encode(s_.project), text::url_encode(flag));
  }

  HttpRequest request(std::string method, std::string url, std::string body = "") const {
    HttpRequest req;
    req.method = std::move(method);
    req.url = std::move(url);
    req.headers = {{"Authorization", s_.api_token}, {"LD-API-Version", "20240415"}, {"Accept", "application/json"}};
    req.body = std::move(body);
    req.timeout = s_.timeout;
    req.tls = s_.tls;
    return req;
  }

  Result<json::object> fetch(const std::string& flag) {
    HttpRequest req = request("GET", flag_url(flag) + "?env=" + text::url_encode(s_.environment));
    Result<HttpResponse> last = fail("not sent");
    Attempt a = with_retries(s_.retry, [&] {
      last = http_perform(req);
      return classify_http(last, std::chrono::system_clock::now());
    });
    if (!a.ok()) return fail(fmt::format("LaunchDarkly GET {}: {}", flag, a.detail));
    auto v = parse_json(last->body);
    if (!v || !v->is_object()) return fail(fmt::format("LaunchDarkly GET {}: not a JSON object", flag));
    const auto* envs = v->as_object().if_contains("environments");
    if (!envs || !envs->is_object() || !envs->as_object().contains(s_.environment))
      return fail(fmt::format("LaunchDarkly flag {} has no environment {}", flag, s_.environment));
    return v->as_object();
  }

  const json::object& environment(const json::object& f) const {
    return f.at("environments").as_object().at(s_.environment).as_object();
  }

  std::string off_variation_id(const json::object& f) const {
    const auto& env = environment(f);
    const auto* off = env.if_contains("offVariation");
    const auto* vars = f.if_contains("variations");
    if (!off || !off->is_int64() || !vars || !vars->is_array()) return "";
    auto i = static_cast<size_t>(off->as_int64());
    if (i >= vars->as_array().size()) return "";
    return string_at(vars->as_array()[i].as_object(), "_id");
  }

  // What we write and restore: `on` and the rules, without ids.
  FlagSnapshot snapshot(const std::string& flag, const json::object& f) const {
    const auto& env = environment(f);
    json::array rules;
    if (const auto* rs = env.if_contains("rules"); rs && rs->is_array())
      for (const auto& r : rs->as_array()) {
        if (!r.is_object()) continue;
        json::object x;
        for (const char* k : {"description", "clauses", "variation", "rollout"})
          if (const auto* v = r.as_object().if_contains(k)) x[k] = *v;
        rules.push_back(std::move(x));
      }
    json::object st{{"on", env.contains("on") ? env.at("on") : json::value(false)}, {"rules", std::move(rules)}};
    return FlagSnapshot{flag, json::serialize(st)};
  }

  LaunchDarklySpec s_;
};

}  // namespace

void register_launchdarkly_provider(FlagProviderRegistry& registry) {
  registry.add(
      "launchdarkly",
      [](const FlagProviderSpec& s) -> Result<std::unique_ptr<FlagProvider>> {
        return std::make_unique<LaunchDarklyProvider>(s.kind.as<LaunchDarklySpec>());
      },
      [](ConfigReader& r, FlagProviderSpec& spec) {
        LaunchDarklySpec l;
        if (auto v = r.secret_str("api_token", true, "an access token with writer role (env:NAME or file:PATH)")) {
          l.api_token = *v;
          secrets::add(*v);
        }
        if (r.has("base_url"))
          if (auto v = r.url("base_url", "the API base URL", "https://app.launchdarkly.com")) l.base_url = *v;
        if (auto v = r.str("project", true, "the project key")) l.project = *v;
        if (auto v = r.str("environment", true, "the environment key, e.g. production")) l.environment = *v;
        if (auto v = r.str("context_kind")) l.context_kind = *v;
        if (auto v = r.duration("timeout")) l.timeout = *v;
        if (auto v = r.integer("max_attempts", 1, 20)) l.retry.max_attempts = static_cast<int>(*v);
        if (auto v = r.duration("backoff")) l.retry.backoff = *v;
        decode_http_tls(r, l.tls);
        spec.kind = std::move(l);
      });
}

}  // namespace dg
