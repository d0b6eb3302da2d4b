// The http flag provider: read → compare → templated write → read back.
#include "flags/http/http_provider.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <mutex>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "flags/http/template.h"
#include "flags/remote_call.h"

namespace dg {
namespace {

namespace json = boost::json;

const std::vector<std::string> kChangeNames = {"flag", "variant", "segment", "segment_jsonlogic"};
const std::vector<std::string> kRestoreNames = {"flag", "state"};

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

bool json_body(const HttpFlagRequest& r) {
  for (const auto& [k, v] : r.headers)
    if (same_name(k, "content-type")) return v.find("json") != std::string::npos;
  size_t i = r.body.find_first_not_of(" \t\r\n");
  return i != std::string::npos && (r.body[i] == '{' || r.body[i] == '[');
}

bool has_header(const std::vector<std::pair<std::string, std::string>>& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (same_name(k, name)) return true;
  return false;
}

class HttpFlagProvider final : public FlagProvider {
 public:
  explicit HttpFlagProvider(HttpProviderSpec spec) : spec_(std::move(spec)) {}

  Result<FlagSnapshot> read(const std::string& flag) override {
    auto r = fetch(flag);
    if (!r) return std::unexpected(r.error());
    return r->snap;
  }

  Result<FlagOutcome> preview(const FlagChange& change) override {
    auto cur = fetch(change.flag);
    if (!cur) return std::unexpected(cur.error());
    FlagOutcome out;
    out.previous = out.current = cur->snap;
    auto done = already(change, *cur);
    if (!done) return std::unexpected(done.error());
    out.changed = !*done;
    // The service decides the new state, so a preview cannot say it: "null"
    // (journaled as intended_state null, which reconcile reads as "judge by
    // the previous state alone"), and that a request would go out.
    if (out.changed) out.current.state_json = "null";
    out.detail = out.changed ? fmt::format("would send {} for flag {}", spec_.apply.method, change.flag)
                             : fmt::format("flag {} already in the desired state", change.flag);
    return out;
  }

  Result<FlagOutcome> apply(const FlagChange& change, const std::optional<FlagSnapshot>& expected) override {
    std::lock_guard guard(mu_);
    auto cur = fetch(change.flag);
    if (!cur) return std::unexpected(cur.error());
    FlagOutcome out;
    out.previous = out.current = cur->snap;
    if (expected && !same_state(*expected, cur->snap)) return conflict(std::move(out));
    auto done = already(change, *cur);
    if (!done) return std::unexpected(done.error());
    if (*done) {
      out.detail = fmt::format("flag {} already in the desired state", change.flag);
      return out;
    }
    auto values = change_values(change);
    if (auto r = send(spec_.apply, values, "apply"); !r) return std::unexpected(r.error());
    auto after = fetch(change.flag);
    if (!after) {
      out.changed = true;  // the request was accepted: keep the undo
      out.detail = fmt::format("applied to flag {}; the read-back failed: {}", change.flag, after.error().message);
      return out;
    }
    out.current = after->snap;
    out.changed = true;
    auto ok = already(change, *after);
    if (ok && !*ok) {
      out.detail = fmt::format("the service accepted the change of flag {}, but the read-back does not show it", change.flag);
      return out;
    }
    out.detail = fmt::format("applied to flag {} (verified by read-back)", change.flag);
    return out;
  }

  Result<FlagOutcome> restore(const FlagSnapshot& snapshot, const std::optional<FlagSnapshot>& expected) override {
    std::lock_guard guard(mu_);
    auto cur = fetch(snapshot.flag);
    if (!cur) return std::unexpected(cur.error());
    FlagOutcome out;
    out.previous = out.current = cur->snap;
    if (same_state(cur->snap, snapshot)) {
      out.detail = fmt::format("flag {} already in the state to restore", snapshot.flag);
      return out;
    }
    if (expected && !same_state(*expected, cur->snap)) return conflict(std::move(out));
    if (!spec_.restore) return fail(fmt::format("flag {}: this http provider has no restore request", snapshot.flag));
    flagtpl::Values values{{"flag", snapshot.flag, false}, {"state", snapshot.state_json, true}};
    if (auto r = send(*spec_.restore, values, "restore"); !r) return std::unexpected(r.error());
    auto after = fetch(snapshot.flag);
    out.changed = true;
    if (!after) {
      out.detail = fmt::format("restored flag {}; the read-back failed: {}", snapshot.flag, after.error().message);
      return out;
    }
    out.current = after->snap;
    out.detail = same_state(after->snap, snapshot)
                     ? fmt::format("restored flag {} (verified by read-back)", snapshot.flag)
                     : fmt::format("the service accepted the restore of flag {}, but the read-back differs", snapshot.flag);
    return out;
  }

 private:
  struct Read {
    FlagSnapshot snap;
    std::string body;
  };

  static flagtpl::Values change_values(const FlagChange& c) {
    return {{"flag", c.flag, false}, {"variant", c.variant, false}, {"segment", c.segment, false},
            {"segment_jsonlogic", c.segment_jsonlogic, true}};
  }

  // The change is visible in the read body (only with applied_contains).
  Result<bool> already(const FlagChange& c, const Read& r) const {
    if (spec_.applied_contains.empty()) return false;
    auto needle = flagtpl::render(spec_.applied_contains, change_values(c), flagtpl::Mode::kText);
    if (!needle) return std::unexpected(needle.error());
    return r.body.find(*needle) != std::string::npos;
  }

  Result<HttpResponse> send(const HttpFlagRequest& t, const flagtpl::Values& values, std::string_view what) const {
    HttpRequest req;
    req.method = t.method;
    auto url = flagtpl::render(t.url, values, flagtpl::Mode::kUrl);
    if (!url) return fail(fmt::format("{} url: {}", what, url.error().message));
    req.url = *url;
    req.headers = spec_.headers;
    for (const auto& [k, v] : t.headers) {
      auto hv = flagtpl::render(v, values, flagtpl::Mode::kHeader);
      if (!hv) return fail(fmt::format("{} header {}: {}", what, k, hv.error().message));
      req.headers.emplace_back(k, *hv);
    }
    bool is_json = json_body(t);
    auto body = flagtpl::render(t.body, values, is_json ? flagtpl::Mode::kJson : flagtpl::Mode::kText);
    if (!body) return fail(fmt::format("{} body: {}", what, body.error().message));
    req.body = *body;
    if (is_json && !req.body.empty() && !has_header(req.headers, "content-type"))
      req.headers.emplace_back("Content-Type", "application/json");
    req.timeout = spec_.timeout;
    req.tls = spec_.tls;
    auto r = perform_with_retries(req);
    if (!r) return fail(secrets::redact(fmt::format("{} {} {}: {}", what, req.method, req.url, r.error().message)));
    bool ok = t.expect_status.empty() ? r->status >= 200 && r->status < 300
                                      : std::find(t.expect_status.begin(), t.expect_status.end(), r->status) != t.expect_status.end();
    if (!ok)
      return fail(fmt::format("{}: {} {} answered HTTP {}: {}", what, req.method, secrets::redact(req.url), r->status,
                              secrets::excerpt(r->body, 300)));
    return r;
  }

  Result<Read> fetch(const std::string& flag) const {
    HttpFlagRequest t = spec_.read;
    std::vector<int> accepted = t.expect_status;
    if (accepted.empty()) accepted = {200};
    t.expect_status = accepted;
    t.expect_status.push_back(404);
    auto r = send(t, {{"flag", flag, false}}, "read");
    if (!r) return std::unexpected(r.error());
    if (r->status == 404 && std::find(accepted.begin(), accepted.end(), 404) == accepted.end())
      return Read{FlagSnapshot{flag, "null"}, ""};
    json::value state;
    if (auto doc = parse_json(r->body)) {
      state = std::move(*doc);
      if (!spec_.state_pointer.empty()) {
        boost::system::error_code ec;
        const json::value* part = state.find_pointer(spec_.state_pointer, ec);
        if (!part) return fail(fmt::format("read of flag {}: no {} in the answer", flag, spec_.state_pointer));
        state = json::value(*part);
      }
    } else {
      if (!spec_.state_pointer.empty()) return fail(fmt::format("read of flag {}: the answer is not JSON", flag));
      state = json::string(r->body);
    }
    return Read{FlagSnapshot{flag, json::serialize(state)}, r->body};
  }

  FlagOutcome conflict(FlagOutcome out) const {
    out.changed = false;
    out.conflict = true;
    out.current = out.previous;
    out.detail = fmt::format("flag {} is no longer in the expected state: someone else changed it; nothing written, their change kept",
                             out.previous.flag);
    return out;
  }

  HttpProviderSpec spec_;
  std::mutex mu_;
};

void decode_request(ConfigReader& r, HttpFlagRequest& t, const std::vector<std::string>& names, bool write) {
  if (auto v = r.str("method")) {
    static const std::vector<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (std::find(methods.begin(), methods.end(), *v) == methods.end())
      r.error("method", "expected one of " + join_quoted(methods));
    t.method = *v;
  } else if (write) {
    t.method = "POST";
  }
  auto check = [&](std::string_view key, const std::string& tpl) {
    auto unknown = flagtpl::unknown_names(tpl, names);
    if (!unknown) r.error(key, unknown.error().message);
    else if (!unknown->empty())
      r.error(key, fmt::format("unknown placeholder {{{{{}}}}} (known here: {})", unknown->front(), join_quoted(names)));
  };
  if (const toml::node* n = r.node("url"); n) {
    if (auto v = r.secret_str("url", true, "a URL template")) {
      if (!v->starts_with("http://") && !v->starts_with("https://")) r.error("url", "URL must use http or https");
      check("url", *v);
      t.url = *v;
    }
  } else {
    r.missing("url", "a URL template (e.g. \"https://flags.example.com/api/flags/{{flag}}\")");
  }
  t.headers = r.string_map("headers", true);
  for (const auto& [k, v] : t.headers) check("headers", v);
  if (auto v = r.str("body")) {
    check("body", *v);
    t.body = *v;
  }
  if (const toml::node* n = r.node("expect_status")) {
    auto one = [&](const toml::node& e) {
      if (auto i = e.value<int64_t>(); i && *i >= 100 && *i <= 599) t.expect_status.push_back(static_cast<int>(*i));
      else r.error_at(&e, r.key_path("expect_status"), "expected an HTTP status (100-599) or an array of them");
    };
    if (const auto* a = n->as_array())
      for (const auto& e : *a) one(e);
    else one(*n);
  }
}

void decode_http_provider(ConfigReader& r, FlagProviderSpec& spec) {
  HttpProviderSpec h;
  if (auto v = r.duration("timeout")) h.timeout = *v;
  h.headers = r.string_map("headers", true);
  decode_http_tls(r, h.tls);
  if (!r.has("read")) r.missing("read", "the request that reads a flag's state ([flag_providers.NAME.read])");
  if (!r.has("apply")) r.missing("apply", "the request that flips a flag ([flag_providers.NAME.apply])");
  r.with_table("read", [&](ConfigReader& t) {
    decode_request(t, h.read, {"flag"}, false);
    if (auto v = t.str("state_pointer")) {
      if (!v->empty() && !v->starts_with("/")) t.error("state_pointer", "a JSON Pointer starts with '/' (e.g. \"/flags/0\")");
      h.state_pointer = *v;
    }
  });
  r.with_table("apply", [&](ConfigReader& t) {
    decode_request(t, h.apply, kChangeNames, true);
    if (auto v = t.str("applied_contains")) {
      auto unknown = flagtpl::unknown_names(*v, kChangeNames);
      if (!unknown || !unknown->empty()) t.error("applied_contains", "unknown placeholder (known: " + join_quoted(kChangeNames) + ")");
      h.applied_contains = *v;
    }
  });
  if (r.has("restore")) {
    HttpFlagRequest restore;
    r.with_table("restore", [&](ConfigReader& t) { decode_request(t, restore, kRestoreNames, true); });
    h.restore = std::move(restore);
  }
  spec.kind = std::move(h);
}

}  // namespace

Result<std::unique_ptr<FlagProvider>> make_http_provider(const FlagProviderSpec& spec) {
  return std::make_unique<HttpFlagProvider>(spec.kind.as<HttpProviderSpec>());
}

void register_http_provider(FlagProviderRegistry& registry) {
  registry.add("http", make_http_provider, decode_http_provider);
}

}  // namespace dg
