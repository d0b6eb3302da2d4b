// The unleash provider: reads a flag's environment, computes the state a
// change leads to (unleash_state.cpp), and converges the server to it with
// as few admin calls as the difference needs, in an order that never turns
// the flag off for users outside the segment on the way.
#include "flags/unleash/unleash_provider.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "flags/remote_call.h"
#include "flags/segment.h"
#include "flags/unleash/unleash_state.h"

namespace dg {
namespace {

namespace json = boost::json;

// A state read from the server: the normalized form and the raw strategies
// (a JSON-Patch `test` compares with what the server stores).
struct EnvRead {
  bool exists = false;
  json::value state;  // null when the flag does not exist
  std::vector<json::object> raw;
};

struct Conflict {
  std::string why;
};

class UnleashProvider final : public FlagProvider {
 public:
  explicit UnleashProvider(UnleashSpec spec) : spec_(std::move(spec)) {
    while (!spec_.url.empty() && spec_.url.back() == '/') spec_.url.pop_back();
  }

  Result<FlagSnapshot> read(const std::string& flag) override {
    auto r = fetch(flag);
    if (!r) return std::unexpected(r.error());
    return snap(flag, r->state);
  }

  Result<FlagOutcome> preview(const FlagChange& change) override {
    auto cur = fetch(change.flag);
    if (!cur) return std::unexpected(cur.error());
    auto desired = desired_state(change, *cur);
    if (!desired) return std::unexpected(desired.error());
    FlagOutcome out;
    out.previous = snap(change.flag, cur->state);
    out.current = snap(change.flag, *desired);
    out.changed = !same_state(out.previous, out.current);
    out.detail = out.changed ? fmt::format("would {}", describe(change))
                             : fmt::format("{} already in the desired state", where(change.flag));
    return out;
  }

  Result<FlagOutcome> apply(const FlagChange& change, const std::optional<FlagSnapshot>& expected) override {
    std::lock_guard guard(mu_);
    auto cur = fetch(change.flag);
    if (!cur) return std::unexpected(cur.error());
    FlagOutcome out;
    out.previous = snap(change.flag, cur->state);
    if (expected && !same_state(*expected, out.previous) && !ours_partly(change, *expected, cur->state))
      return conflict(std::move(out), "its state differs from the one journaled");
    auto desired = desired_state(change, *cur);
    if (!desired) return std::unexpected(desired.error());
    Withdraw withdraw;
    if (!change.segment.empty())
      if (auto seg = segment_of(change))
        withdraw = [seg = *seg](const json::value& state) {
          return unleash::unkill_segment(state, seg.groups, seg.tag);
        };
    return converge(change.flag, *cur, *desired, std::move(out), describe(change), withdraw);
  }

  Result<FlagOutcome> restore(const FlagSnapshot& snapshot, const std::optional<FlagSnapshot>& expected) override {
    std::lock_guard guard(mu_);
    auto parsed = parse_json(snapshot.state_json);
    if (!parsed) return fail(fmt::format("invalid snapshot of flag {}: {}", snapshot.flag, parsed.error().message));
    if (parsed->is_null()) return fail(fmt::format("{} did not exist before; deployguard does not delete flags", where(snapshot.flag)));
    auto cur = fetch(snapshot.flag);
    if (!cur) return std::unexpected(cur.error());
    FlagOutcome out;
    out.previous = snap(snapshot.flag, cur->state);
    if (same_state(out.previous, snapshot)) {
      out.current = out.previous;
      out.detail = fmt::format("{} already in the state to restore", where(snapshot.flag));
      return out;
    }
    if (expected && !same_state(*expected, out.previous) && !between(*expected, snapshot, cur->state))
      return conflict(std::move(out), "its state differs from the one deployguard wrote");
    return converge(snapshot.flag, *cur, *parsed, std::move(out), "restore the journaled state");
  }

 private:
  std::string feature_url(const std::string& flag) const {
    return fmt::format("{}/api/admin/projects/{}/features/{}", spec_.url, text::url_encode(spec_.project),
                       text::url_encode(flag));
  }
  std::string env_url(const std::string& flag) const {
    return fmt::format("{}/environments/{}", feature_url(flag), text::url_encode(spec_.environment));
  }
  std::string where(const std::string& flag) const {
    return fmt::format("unleash flag {} ({} / {})", flag, spec_.project, spec_.environment);
  }
  std::string describe(const FlagChange& c) const {
    return c.segment.empty() ? fmt::format("disable {}", where(c.flag))
                             : fmt::format("exclude segment `{}` from {}", c.segment, where(c.flag));
  }
  static FlagSnapshot snap(const std::string& flag, const json::value& state) {
    return FlagSnapshot{flag, json::serialize(state)};
  }

  Result<HttpResponse> call(const std::string& method, const std::string& url, std::string body = "") const {
    HttpRequest req;
    req.method = method;
    req.url = url;
    req.headers = {{"Authorization", spec_.token}, {"Accept", "application/json"}};
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.body = std::move(body);
    req.timeout = spec_.timeout;
    req.tls = spec_.tls;
    RetryPolicy policy;
    policy.final_answer = [](const HttpResponse& r) { return is_test_failure(r); };
    auto r = perform_with_retries(req, policy);
    if (!r) return fail(secrets::redact(fmt::format("{} {}: {}", method, url, r.error().message)));
    return r;
  }
  static bool is_test_failure(const HttpResponse& r) {
    return r.status == 500 && r.body.find("TEST_OPERATION_FAILED") != std::string::npos;
  }
  std::unexpected<Error> bad_answer(const std::string& what, const HttpResponse& r) const {
    return fail(fmt::format("unleash {}: HTTP {}: {}", what, r.status, secrets::excerpt(r.body, 300)));
  }

  Result<EnvRead> fetch(const std::string& flag) const {
    auto r = call("GET", env_url(flag));
    if (!r) return std::unexpected(r.error());
    EnvRead out;
    if (r->status == 404) {
      out.state = nullptr;
      return out;
    }
    if (r->status != 200) return bad_answer("read of " + where(flag), *r);
    auto doc = parse_json(r->body);
    if (!doc || !doc->is_object()) return fail(fmt::format("unleash read of {}: not a JSON object", where(flag)));
    out.exists = true;
    out.state = unleash::normalize_env(*doc);
    if (const auto* s = doc->as_object().if_contains("strategies"); s && s->is_array())
      for (const auto& v : s->get_array())
        if (v.is_object()) out.raw.push_back(v.get_object());
    return out;
  }

  struct Segment {
    std::vector<json::array> groups;
    std::string tag;
  };
  static Result<Segment> segment_of(const FlagChange& c) {
    auto parsed = parse_segment(c.segment);
    if (!parsed) return std::unexpected(parsed.error());
    auto groups = unleash::exclusion_groups(*parsed);
    if (!groups) return std::unexpected(groups.error());
    return Segment{std::move(*groups), unleash::segment_tag(c.segment)};
  }

  Result<json::value> desired_state(const FlagChange& c, const EnvRead& cur) const {
    if (!cur.exists) return fail(fmt::format("{} not found", where(c.flag)));
    if (c.variant != "off" && c.variant != "false" && c.variant != "disabled")
      return fail(fmt::format("{}: Unleash flags are on or off and deployguard only turns them off; "
                              "use variant = \"off\" (found \"{}\")",
                              where(c.flag), c.variant));
    if (c.segment.empty()) return unleash::kill_all(cur.state);
    auto seg = segment_of(c);
    if (!seg) return std::unexpected(seg.error());
    // The environment's kill switch already excludes everyone.
    if (!cur.state.as_object().at("enabled").as_bool()) return cur.state;
    return unleash::kill_segment(unleash::unkill_segment(cur.state, seg->groups, seg->tag), seg->groups, seg->tag);
  }

  // The flag differs from the journaled state only by our own, partly
  // written change (a run that died between two calls): not someone else's.
  bool ours_partly(const FlagChange& c, const FlagSnapshot& expected, const json::value& current) const {
    if (c.segment.empty() || current.is_null()) return false;
    auto seg = segment_of(c);
    if (!seg) return false;
    return same_state(expected, snap(c.flag, unleash::unkill_segment(current, seg->groups, seg->tag)));
  }

  // A restore that died half-way leaves each strategy either as we wrote it
  // or as it was before: every strategy of `current` is one of `from` or of
  // `to` (by id, ours by title), every strategy of `to` with an id is still
  // there, and the switch is one of the two. Anything else is someone else's.
  static bool between(const FlagSnapshot& from, const FlagSnapshot& to, const json::value& current) {
    auto a = parse_json(from.state_json);
    auto b = parse_json(to.state_json);
    if (!a || !b || !a->is_object() || !b->is_object() || !current.is_object()) return false;
    auto key = [](const json::value& s) {
      const json::object& o = s.as_object();
      if (const auto* id = o.if_contains("id")) return "id:" + json::serialize(*id);
      return "title:" + json::serialize(o.contains("title") ? o.at("title") : json::value(""));
    };
    auto in = [&](const json::value& state, const json::value& s) {
      for (const auto& x : state.as_object().at("strategies").as_array())
        if (key(x) == key(s) && x == s) return true;
      return false;
    };
    const json::value& on = current.as_object().at("enabled");
    if (on != a->as_object().at("enabled") && on != b->as_object().at("enabled")) return false;
    for (const auto& s : current.as_object().at("strategies").as_array())
      if (!in(*a, s) && !in(*b, s)) return false;
    for (const auto& s : b->as_object().at("strategies").as_array()) {
      if (!s.as_object().contains("id")) continue;
      bool found = false;
      for (const auto& x : current.as_object().at("strategies").as_array()) found = found || key(x) == key(s);
      if (!found) return false;
    }
    return true;
  }

  FlagOutcome conflict(FlagOutcome out, const std::string& why) const {
    out.changed = false;
    out.conflict = true;
    out.current = out.previous;
    out.detail = fmt::format("{}: {}: someone else changed it; nothing written, their change kept",
                             where(out.previous.flag), why);
    return out;
  }

  // Turns `cur` into `desired`: adds first (a strategy added can only turn the
  // flag on for users a sibling already serves), then edits in place (each a
  // JSON-Patch testing the values read), then the environment switch, then
  // deletes. Returns the state read back at the end.
  // `withdraw`, for a change we can take back (a segment kill): what the
  // state is without our marks. When another writer wins a race mid-way,
  // whatever we already wrote is withdrawn, so a conflict leaves only theirs.
  using Withdraw = std::function<json::value(const json::value&)>;
  Result<FlagOutcome> converge(const std::string& flag, const EnvRead& cur, const json::value& desired,
                               FlagOutcome out, const std::string& what, const Withdraw& withdraw = nullptr) {
    const json::array& want = desired.as_object().at("strategies").as_array();
    // Raw strategies by id, and ours (no id in a state) by title.
    std::map<std::string, const json::object*> by_id, by_title;
    for (const auto& r : cur.raw) {
      std::string id = json::value_to<std::string>(r.contains("id") ? r.at("id") : json::value(""));
      by_id[id] = &r;
      if (r.contains("title") && r.at("title").is_string()) by_title[std::string(r.at("title").get_string())] = &r;
    }
    std::set<std::string> keep;
    std::vector<json::object> posts;
    std::vector<std::pair<const json::object*, json::object>> patches;  // raw current, wanted
    for (const auto& wv : want) {
      const json::object& w = wv.get_object();
      const json::object* raw = nullptr;
      if (const auto* id = w.if_contains("id")) {
        auto it = by_id.find(std::string(id->get_string()));
        if (it == by_id.end()) return stale(std::move(out), "a strategy it had is gone");
        raw = it->second;
      } else {
        auto it = by_title.find(std::string(w.at("title").get_string()));
        if (it != by_title.end()) raw = it->second;
      }
      if (!raw) {
        posts.push_back(w);
        continue;
      }
      keep.insert(std::string(raw->at("id").get_string()));
      json::object have = unleash::normalize_strategy(*raw);
      json::object w_cmp = w;
      if (!w.contains("id")) {  // ours: compared without the server's bookkeeping
        have.erase("id");
        have.erase("sortOrder");
      }
      if (have != w_cmp) patches.emplace_back(raw, w);
    }
    std::vector<std::string> deletes;
    for (const auto& r : cur.raw) {
      std::string id(r.at("id").get_string());
      if (!keep.contains(id)) deletes.push_back(id);
    }
    bool want_enabled = desired.as_object().at("enabled").as_bool();
    bool toggle = want_enabled != cur.state.as_object().at("enabled").as_bool();
    int calls = 0;
    auto step = [&](Result<void> r) -> Result<void> {
      if (r) ++calls;
      return r;
    };
    Result<void> ok;
    bool lost_race = false;
    for (const auto& p : posts) {
      json::object body = p;
      body.erase("id");
      body.erase("sortOrder");
      if (auto r = step(post_strategy(flag, body)); !r) { ok = r; break; }
    }
    if (ok) {
      for (const auto& [raw, w] : patches) {
        auto r = patch_strategy(flag, *raw, w);
        if (!r) { ok = std::unexpected(r.error()); break; }
        if (!*r) { lost_race = true; break; }
        ++calls;
      }
    }
    if (ok && !lost_race && toggle && want_enabled) ok = step(switch_env(flag, true));
    if (ok && !lost_race)
      for (const auto& id : deletes)
        if (auto r = step(delete_strategy(flag, id)); !r) { ok = r; break; }
    if (ok && !lost_race && toggle && !want_enabled) ok = step(switch_env(flag, false));

    auto after = fetch(flag);
    if (!after) {
      if (calls == 0) return std::unexpected(after.error());
      // Something was written: say so, so the caller keeps the undo.
      out.changed = true;
      out.current = snap(flag, desired);
      out.detail = fmt::format("{} ({} calls); the read-back failed: {}", what, calls, after.error().message);
      return out;
    }
    out.current = snap(flag, after->state);
    out.changed = !same_state(out.previous, out.current);
    if (lost_race) {
      std::string why = "a strategy changed between our read and our write";
      if (withdraw && calls > 0) {
        json::value clean = withdraw(after->state);
        if (clean != after->state) {
          FlagOutcome back;
          back.previous = out.current;
          auto w = converge(flag, *after, clean, std::move(back), "withdraw our partial change");
          if (!w || w->changed != true || w->conflict) {
            out.changed = true;
            out.conflict = true;
            out.detail = fmt::format("{}: {}; withdrawing the {} calls already made failed: {}", what, why, calls,
                                     w ? w->detail : w.error().message);
            return out;
          }
          out.current = w->current;
        }
        why += fmt::format(" (the {} calls already made were withdrawn)", calls);
      } else if (calls > 0) {
        out.conflict = true;
        out.detail = fmt::format("{}: stopped after {} calls, {} (someone else is editing the flag)", what, calls, why);
        return out;
      }
      out.previous = out.current;  // the state found: theirs, with nothing of ours left
      return conflict(std::move(out), why);
    }
    if (!ok) {
      if (calls == 0) return std::unexpected(ok.error());
      out.detail = fmt::format("{}: {} calls done, then: {}", what, calls, ok.error().message);
      out.changed = true;
      return out;
    }
    if (!same_state(out.current, snap(flag, desired))) {
      out.detail = fmt::format("{}: written, but the state read back differs from the one intended", what);
      return out;
    }
    out.detail = out.changed ? fmt::format("{} ({} admin calls)", what, calls)
                             : fmt::format("{} already in the desired state", where(flag));
    return out;
  }

  FlagOutcome stale(FlagOutcome out, const std::string& why) const { return conflict(std::move(out), why); }

  Result<void> post_strategy(const std::string& flag, const json::object& body) const {
    auto r = call("POST", env_url(flag) + "/strategies", json::serialize(body));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200 && r->status != 201) return bad_answer("add strategy to " + where(flag), *r);
    return {};
  }

  // false: a `test` failed (the strategy is no longer what we read).
  Result<bool> patch_strategy(const std::string& flag, const json::object& raw, const json::object& want) const {
    json::array ops;
    for (const char* field : {"title", "constraints", "parameters", "disabled", "name", "variants", "segments"}) {
      const json::value* w = want.if_contains(field);
      if (!w) continue;
      json::object have = unleash::normalize_strategy(raw);
      if (have.contains(field) && have.at(field) == *w) continue;
      if (raw.contains(field)) ops.push_back(json::object{{"op", "test"}, {"path", std::string("/") + field}, {"value", raw.at(field)}});
      ops.push_back(json::object{{"op", raw.contains(field) ? "replace" : "add"}, {"path", std::string("/") + field}, {"value", *w}});
    }
    std::string id(raw.at("id").get_string());
    auto r = call("PATCH", env_url(flag) + "/strategies/" + text::url_encode(id), json::serialize(ops));
    if (!r) return std::unexpected(r.error());
    if (is_test_failure(*r)) return false;
    if (r->status != 200) return bad_answer("edit strategy of " + where(flag), *r);
    return true;
  }

  Result<void> delete_strategy(const std::string& flag, const std::string& id) const {
    auto r = call("DELETE", env_url(flag) + "/strategies/" + text::url_encode(id));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200 && r->status != 204 && r->status != 404) return bad_answer("delete strategy of " + where(flag), *r);
    return {};
  }

  Result<void> switch_env(const std::string& flag, bool on) const {
    auto r = call("POST", env_url(flag) + (on ? "/on" : "/off"));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200 && r->status != 204) return bad_answer(std::string(on ? "enable " : "disable ") + where(flag), *r);
    return {};
  }

  UnleashSpec spec_;
  std::mutex mu_;  // one converge at a time per provider
};

void decode_unleash(ConfigReader& r, FlagProviderSpec& spec) {
  UnleashSpec u;
  if (auto v = r.url("url", "the Unleash server's base URL", "https://unleash.example.com")) u.url = *v;
  if (const toml::node* t = r.node("token"); t && t->is_string() && !secrets::is_reference(t->as_string()->get()))
    r.error("token", "literal secret in the config; reference it as \"env:NAME\" (or a file: reference)");
  else if (auto v = r.secret_str("token", true, "an admin API token reference (\"env:UNLEASH_TOKEN\")")) u.token = *v;
  if (auto v = r.str("project")) {
    if (v->empty()) r.error("project", "must not be empty (default \"default\")");
    u.project = *v;
  }
  if (auto v = r.str("environment", true, "the environment to act in, e.g. \"production\"")) {
    if (v->empty()) r.error("environment", "must not be empty");
    u.environment = *v;
  }
  if (auto v = r.duration("timeout")) u.timeout = *v;
  decode_http_tls(r, u.tls);
  spec.kind = std::move(u);
}

}  // namespace

Result<std::unique_ptr<FlagProvider>> make_unleash_provider(const FlagProviderSpec& spec) {
  return std::make_unique<UnleashProvider>(spec.kind.as<UnleashSpec>());
}

void register_unleash_provider(FlagProviderRegistry& registry) {
  registry.add("unleash", make_unleash_provider, decode_unleash);
}

}  // namespace dg
