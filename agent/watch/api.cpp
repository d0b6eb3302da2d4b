#include "agent/watch/api.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <algorithm>
#include <deque>
#include <fstream>
#include <iterator>

#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"
#include "agent/watch/auth.h"
#include "agent/watch/status_page.h"
#include "agent/watch/watch_metrics.h"

namespace dg {
namespace {

namespace json = boost::json;

ServerResponse json_response(int status, const json::value& v) {
  return ServerResponse{.status = status, .content_type = "application/json", .body = json::serialize(v) + "\n"};
}

ServerResponse error_response(int status, const std::string& message) {
  return json_response(status, json::object{{"error", secrets::redact(message)}});
}

std::optional<long long> to_number(const std::string* s) {
  if (!s) return std::nullopt;
  long long v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) return std::nullopt;
  return v;
}

// The body of a POST as a JSON object, or why not.
Result<json::object> body_object(const ServerRequest& req) {
  if (req.body.empty()) return json::object{};
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) return fail(fmt::format("the body is not valid JSON: {}", ec.message()));
  if (!v.is_object()) return fail("the body must be a JSON object");
  return v.as_object();
}

// A string field, if present; a field of another type is an error.
Result<std::string> field(const json::object& o, std::string_view key, bool required, size_t max = 4096) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return fail(fmt::format("'{}' is required", key));
    return std::string();
  }
  if (!v->is_string()) return fail(fmt::format("'{}' must be a string", key));
  if (v->as_string().size() > max) return fail(fmt::format("'{}' is longer than {} characters", key, max));
  return std::string(v->as_string());
}

Result<std::vector<std::string>> string_list(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return fail(fmt::format("'{}' must be an array of strings", key));
  for (const auto& x : v->as_array()) {
    if (!x.is_string()) return fail(fmt::format("'{}' must be an array of strings", key));
    out.emplace_back(x.as_string());
  }
  return out;
}

// Who pressed it: the token holder's own words, and where they came from.
std::string who_of(const json::object& body, const ServerRequest& req) {
  std::string said = string_at(body, "who");
  if (said.size() > 200) said.resize(200);
  std::string from = fmt::format("token holder at {}", req.remote_address);
  return said.empty() ? from : fmt::format("{} ({})", said, from);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Who the authenticating proxy says sent the request: "" when the header is
// not trusted (the default) or absent. Printable, bounded.
std::string trusted_identity(const WatchSpec& w, const ServerRequest& req) {
  if (w.trusted_user_header.empty()) return "";
  const std::string* v = req.header(w.trusted_user_header);
  if (!v) return "";
  std::string out;
  for (unsigned char c : *v)
    if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out.erase(0, out.find_first_not_of(' ') == std::string::npos ? out.size() : out.find_first_not_of(' '));
  if (out.size() > 200) out.resize(200);
  return out;
}

// A browser names the page a request comes from: a mutation is taken only
// from this origin (as the client or the proxy in front sees the host), or
// from a client that sends no Origin at all (curl, the CLI).
bool same_origin(const ServerRequest& req) {
  if (const std::string* site = req.header("sec-fetch-site"); site && *site != "same-origin" && *site != "none")
    return false;
  const std::string* origin = req.header("origin");
  if (!origin) return true;
  auto p = origin->find("://");
  if (p == std::string::npos) return false;  // "null" (a sandboxed page, a file) included
  std::string host = lower(origin->substr(p + 3));
  for (const char* name : {"host", "x-forwarded-host"})
    if (const std::string* h = req.header(name); h && lower(*h) == host) return true;
  return false;
}

// "sha256-BASE64" of a text, for a Content-Security-Policy source.
std::string csp_hash(std::string_view text) {
  std::string hex = sha256_hex(text), bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "sha256-";
  for (size_t i = 0; i < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kB64[v & 63] : '=';
  }
  return out;
}

// Headers every HTML answer carries: its policy, no sniffing, no framing, no referrer, no cache.
ServerResponse html_response(int status, std::string body, std::string csp) {
  ServerResponse r{.status = status, .content_type = "text/html; charset=utf-8", .body = std::move(body)};
  r.headers = {{"Content-Security-Policy", std::move(csp)}, {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"}, {"Referrer-Policy", "no-referrer"}, {"Cache-Control", "no-store"}};
  return r;
}

ServerResponse static_response(std::string_view content_type, const std::string& body) {
  ServerResponse r{.status = 200, .content_type = std::string(content_type), .body = body};
  r.headers = {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-cache"}};
  return r;
}

constexpr size_t kRecentDecisions = 15;

// The watcher's journal as incidents: the records appended since the last look, added.
const IncidentCache& incidents_of(ApiContext& ctx, IncidentCache& local) {
  IncidentCache& c = ctx.incidents ? *ctx.incidents : local;
  if (c.head >= 0 && c.head == ctx.journal.head().seq) return c;
  for (;;) {
    json::array page = journal_records_since(ctx.journal.path(), c.builder.last_seq(), 5000);
    for (const auto& r : page)
      if (r.is_object()) {
        c.builder.add(r.as_object());
        c.recent.push_back(r.as_object());
        if (c.recent.size() > kRecentDecisions) c.recent.pop_front();
      }
    if (page.size() < 5000) break;
  }
  c.model = c.builder.finish();
  c.model.journal = ctx.journal.path();
  c.kpis = kpi::compute({c.model});
  c.head = c.model.head_seq;
  return c;
}

json::object status_json(ApiContext& ctx) {
  const Config& cfg = ctx.config;
  json::array services;
  for (const auto& s : cfg.services) {
    auto r = ctx.releases.find(s.name);
    services.push_back({{"name", s.name}, {"release", r != ctx.releases.end() ? r->second : s.release}});
  }
  json::array policies, incidents;
  for (const auto& p : cfg.policies) {
    LadderState st = ctx.engine.state(p.name);
    PolicyResult res = ctx.engine.ladder(p.name);
    json::object last;
    for (const auto& name : p.probes) last[name] = ctx.last_signals(name);
    for (const auto& c : p.metrics) last[c.id] = ctx.last_signals(c.id);
    json::object o{{"name", p.name}, {"service", p.service}, {"state", to_string(st)},
                   {"release", ctx.engine.release_of(p.name).first}, {"last", last}};
    if (res.tripped_at) {
      json::array actions;
      for (const auto& a : res.actions) actions.push_back({{"description", a.description}, {"outcome", a.outcome},
                                                           {"detail", a.detail}, {"recovery", a.recovery}});
      o["incident"] = res.incident_key;
      o["trip_release"] = res.release;
      o["reasons"] = json::array(res.reasons.begin(), res.reasons.end());
      o["actions"] = actions;
      bool open = st == LadderState::Tripped || st == LadderState::Mitigating || st == LadderState::Verifying ||
                  st == LadderState::Escalated || st == LadderState::Failed;
      if (open)
        incidents.push_back({{"key", res.incident_key}, {"policy", p.name}, {"service", p.service},
                             {"state", to_string(st)}, {"scope", p.scope}, {"reasons", o["reasons"]}});
    }
    policies.push_back(std::move(o));
  }
  for (const auto& i : ctx.engine.alarm_incidents())
    incidents.push_back({{"key", i.key}, {"service", i.service}, {"scope", i.scope}, {"state", i.status},
                         {"actions", json::array(i.actions.begin(), i.actions.end())}});
  return {{"service", cfg.agent.service},     {"environment", cfg.agent.environment},
          {"run", ctx.run_id},                {"config_digest", cfg.digest},
          {"journal_head", ctx.journal.head().str()}, {"services", services},
          {"policies", policies},             {"incidents", incidents}};
}

}  // namespace

namespace {

// The records of one journal file, parsed, in order; fn returns false to stop.
void each_record_of(const std::string& file, const std::function<bool(json::object&)>& fn) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a final line without its newline is not a record
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;
    if (!fn(v.as_object())) return;
  }
}

long long first_seq_of(const std::string& file) {
  long long seq = -1;
  each_record_of(file, [&](json::object& r) {
    if (const auto* s = r.if_contains("seq"); s && s->is_int64()) seq = s->as_int64();
    return false;
  });
  return seq;
}

}  // namespace

json::array journal_records_since(const std::string& path, long long since, size_t limit) {
  // The journal may hold months in sealed segments: start at the segment
  // that holds `since` (by each file's first seq, one line read), or, for
  // the newest records, at the last files only — never at the beginning.
  std::vector<std::string> files = journal_files(path);
  size_t from = 0;
  if (since >= 0) {
    for (size_t i = files.size(); i-- > 0;)
      if (long long first = first_seq_of(files[i]); first >= 0 && first <= since + 1) {
        from = i;
        break;
      }
  } else {
    // Enough files from the end to hold `limit` records.
    size_t lines = 0;
    from = files.size();
    while (from > 0 && lines < limit) {
      --from;
      std::ifstream in(files[from]);
      lines += static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));
    }
  }
  std::deque<json::value> out;
  bool done = false;
  for (size_t i = from; i < files.size() && !done; ++i)
    each_record_of(files[i], [&](json::object& rec) {
      const auto* seq = rec.if_contains("seq");
      if (!seq || !seq->is_int64() || seq->as_int64() <= since) return true;
      out.emplace_back(std::move(rec));
      if (since >= 0 && out.size() >= limit) {
        done = true;  // the next page starts after the last
        return false;
      }
      if (out.size() > limit) out.pop_front();  // no since: the newest `limit`
      return true;
    });
  return json::array(out.begin(), out.end());
}

ApiResult handle_api(ApiContext& ctx, const ServerRequest& req) {
  const WatchSpec& w = ctx.config.watch;
  const std::string& path = req.path;
  const std::string* auth = req.header("authorization");
  std::string auth_value = auth ? *auth : "";
  auto deny = [&](const std::string& why) {
    ServerResponse r = error_response(401, why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"deployguard\"");
    return ApiResult{.response = std::move(r)};
  };

  const std::string identity = trusted_identity(w, req);
  if (req.method == "GET" || req.method == "HEAD") {
    if (path == "/healthz") return {.response = text_response(200, "ok")};
    // Readiness is for orchestrators, which hold no token; it says nothing secret.
    if (path == "/readyz")
      return {.response = ctx.ready ? text_response(200, "ready") : text_response(503, "not ready: stopping or the journal cannot be written")};
    // The page's script and stylesheet hold no data: the locked page needs them too.
    if (path == "/static/app.js") return {.response = static_response("text/javascript; charset=utf-8", status_page::app_js())};
    if (path == "/static/app.css") return {.response = static_response("text/css; charset=utf-8", status_page::app_css())};
    bool read_ok = w.read_token.empty() || bearer_token_ok(auth_value, w.read_token) ||
                   bearer_token_ok(auth_value, w.alarm_token) || !identity.empty();
    if (!read_ok && path == "/") {
      ServerResponse r = html_response(401, status_page::render_locked_page(), status_page::kPageCsp);
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"deployguard\"");
      return {.response = std::move(r)};
    }
    if (!read_ok) return deny("this endpoint needs the read token (Authorization: Bearer ...)");
    if (path == "/metrics")
      return {.response = ServerResponse{.status = 200, .content_type = std::string(WatchMetrics::kContentType),
                                         .body = ctx.metrics_text()}};
    if (path == "/api/v1/status") return {.response = json_response(200, status_json(ctx))};
    if (path == "/" || path == "/index.html") {
      IncidentCache local;
      const IncidentCache& inc = incidents_of(ctx, local);
      json::object status = status_json(ctx);
      json::array decisions(inc.recent.begin(), inc.recent.end());
      status_page::PageInput in{.status = status, .decisions = decisions, .kpis = inc.kpis, .identity = identity,
                                .trusted_header = w.trusted_user_header,
                                .alarm_token_configured = !w.alarm_token.empty(),
                                .read_token_configured = !w.read_token.empty()};
      const std::string* part = req.query_param("part");
      bool live = part && *part == "live";
      return {.response = html_response(200, live ? status_page::render_live(in) : status_page::render_page(in),
                                        status_page::kPageCsp)};
    }
    if (path == "/api/v1/kpi") {
      IncidentCache local;
      return {.response = json_response(200, kpi::to_json(incidents_of(ctx, local).kpis))};
    }
    constexpr std::string_view kIncidents = "/incidents/";
    if (path.starts_with(kIncidents)) {
      // The review draft of one incident; its one inline style is allowed by its hash.
      static const std::string kReviewCsp = fmt::format(
          "default-src 'none'; style-src '{}'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          csp_hash(review::html_style()));
      IncidentCache local;
      std::string key = path.substr(kIncidents.size());
      review::Model m = review::select(incidents_of(ctx, local).model, {.incident = key});
      if (m.incidents.empty())
        return {.response = html_response(404, fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                                           "<title>No such incident</title></head><body><p>No incident {} "
                                                           "in this watcher's journal.</p></body></html>\n",
                                                           text::xml_escape(key)),
                                          kReviewCsp)};
      return {.response = html_response(200, review::render_html(m), kReviewCsp)};
    }
    if (path == "/api/v1/decisions") {
      auto since = to_number(req.query_param("since"));
      auto limit = to_number(req.query_param("limit"));
      if (req.query_param("since") && !since) return {.response = error_response(400, "since must be a journal seq (an integer)")};
      if (req.query_param("limit") && (!limit || *limit < 1)) return {.response = error_response(400, "limit must be a positive integer")};
      size_t n = static_cast<size_t>(std::min<long long>(limit.value_or(100), 1000));
      json::array records = journal_records_since(ctx.journal.path(), since.value_or(-1), n);
      return {.response = json_response(200, json::object{{"records", records}, {"head", ctx.journal.head().str()}})};
    }
    return {.response = error_response(404, fmt::format("no such endpoint: {}", path))};
  }

  if (req.method != "POST") {
    ServerResponse r = error_response(405, "use GET or POST");
    r.headers.emplace_back("Allow", "GET, HEAD, POST");
    return {.response = std::move(r)};
  }
  // A browser on another site never mutates, whatever it holds.
  if (!same_origin(req))
    return {.response = error_response(403, "cross-origin request refused: mutations come from the status page itself or "
                                            "from a client that sends no Origin")};
  // Every mutation needs the alarm token, or the identity the trusted proxy
  // set; without either nothing is journaled.
  bool token_ok = !w.alarm_token.empty() && bearer_token_ok(auth_value, w.alarm_token);
  if (!token_ok && identity.empty()) {
    if (w.alarm_token.empty() && w.trusted_user_header.empty())
      return deny("no alarm token is configured (watch.alarm_token = \"env:NAME\"): mutations are refused");
    if (w.alarm_token.empty())
      return deny(fmt::format("mutations come only through the sign-in proxy (it sets {}), and this request did not", w.trusted_user_header));
    return deny("missing or wrong bearer token");
  }
  if (!token_ok) {
    // Authorized by a header the proxy adds to every request of a signed-in
    // browser: only JSON, which a page on another site cannot send here
    // without a CORS preflight this listener never grants.
    const std::string* ct = req.header("content-type");
    if (!ct || !lower(*ct).starts_with("application/json"))
      return {.response = error_response(415, "mutations must be JSON (Content-Type: application/json); form posts are refused")};
  }
  auto body = body_object(req);
  if (!body) return {.response = error_response(400, body.error().message)};
  // The proxy's identity, when there is one, is who: the body cannot claim another.
  std::string who = identity.empty() ? who_of(*body, req) : identity;

  if (path == "/api/v1/alarm") {
    auto reason = field(*body, "reason", true);
    auto scope = field(*body, "scope", false);
    auto service = field(*body, "service", false);
    auto policy = field(*body, "policy", false);
    for (auto* f : {&reason, &scope, &service, &policy})
      if (!*f) return {.response = error_response(400, f->error().message)};
    if (reason->empty()) return {.response = error_response(400, "'reason' must not be empty")};
    if (!service->empty() && !ctx.config.service(*service))
      return {.response = error_response(404, fmt::format("no service named '{}'", *service))};
    auto key = ctx.engine.alarm({.reason = *reason, .who = who, .scope = *scope, .service = *service, .policy = *policy});
    if (!key) return {.response = error_response(404, key.error().message)};
    return {.response = json_response(200, json::object{{"incident", *key}, {"who", who}}), .changed = true};
  }
  if (path == "/api/v1/releases") {
    auto service = field(*body, "service", false);
    auto release = field(*body, "release", true, 256);
    auto bake = field(*body, "bake", false);
    auto policies = string_list(*body, "policies");
    auto fixes = string_list(*body, "fixes");
    for (auto* f : {&service, &release, &bake})
      if (!*f) return {.response = error_response(400, f->error().message)};
    if (!policies) return {.response = error_response(400, policies.error().message)};
    if (!fixes) return {.response = error_response(400, fixes.error().message)};
    if (release->empty()) return {.response = error_response(400, "'release' must not be empty")};
    Duration bake_for{0};
    if (!bake->empty()) {
      auto d = parse_duration(*bake);
      if (!d || d->count() <= 0) return {.response = error_response(400, "'bake' must be a duration such as \"2m\"")};
      bake_for = *d;
    }
    std::string svc = service->empty() ? ctx.config.agent.service : *service;
    if (!ctx.config.service(svc)) return {.response = error_response(404, fmt::format("no service named '{}'", svc))};
    for (const auto& p : *policies)
      if (!ctx.config.policy(p)) return {.response = error_response(404, fmt::format("no policy named '{}'", p))};
    auto r = ctx.engine.announce({.service = svc, .release = *release, .policies = *policies, .fixes = *fixes, .who = who});
    if (!r) return {.response = error_response(400, r.error().message)};
    json::object out{{"service", svc}, {"release", *release}};
    if (bake_for.count() > 0) out["bake_ms"] = bake_for.count();
    return {.response = json_response(200, out), .changed = true, .release_service = svc, .release = *release,
            .bake = bake_for, .bake_policies = *policies};
  }
  constexpr std::string_view kPolicies = "/api/v1/policies/";
  if (path.starts_with(kPolicies)) {
    std::string rest = path.substr(kPolicies.size());
    auto slash = rest.rfind('/');
    if (slash == std::string::npos) return {.response = error_response(404, "expected /api/v1/policies/{name}/{action}")};
    std::string name = rest.substr(0, slash), action = rest.substr(slash + 1);
    if (!ctx.config.policy(name)) return {.response = error_response(404, fmt::format("no policy named '{}'", name))};
    auto reason = field(*body, "reason", false);
    if (!reason) return {.response = error_response(400, reason.error().message)};
    Result<void> r;
    if (action == "pause") r = ctx.engine.pause(name, who, *reason);
    else if (action == "resume") r = ctx.engine.resume(name, who);
    else if (action == "release-mitigation") r = ctx.engine.lift(name, who);
    else if (action == "approve") r = ctx.engine.approve(name, who, *reason);
    else if (action == "veto") r = ctx.engine.veto(name, who, *reason);
    else return {.response = error_response(404, fmt::format("no action '{}' (pause, resume, release-mitigation, approve, veto)", action))};
    if (!r) return {.response = error_response(409, r.error().message)};
    return {.response = json_response(200, json::object{{"policy", name}, {"state", to_string(ctx.engine.state(name))}}),
            .changed = true};
  }
  return {.response = error_response(404, fmt::format("no such endpoint: {}", path))};
}

}  // namespace dg
