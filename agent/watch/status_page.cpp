#include "agent/watch/status_page.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg::status_page {
namespace {

namespace json = boost::json;

std::string h(std::string_view s) { return text::xml_escape(s); }

const json::object& obj(const json::value* v) {
  static const json::object kEmpty;
  return v && v->is_object() ? v->as_object() : kEmpty;
}
const json::array& arr(const json::value* v) {
  static const json::array kEmpty;
  return v && v->is_array() ? v->as_array() : kEmpty;
}
std::string str(const json::object& o, std::string_view k) { return string_at(o, k); }

std::string human_ms_opt(const std::optional<long long>& ms) { return ms ? review::human_ms(*ms) : "—"; }

// A one-line account of a journal record for "last decisions".
std::string decision_text(const json::object& rec) {
  std::string kind = str(rec, "kind");
  const json::object& d = obj(rec.if_contains("data"));
  auto first = [&](std::string_view key) {
    const auto& a = arr(d.if_contains(key));
    return a.empty() || !a.front().is_string() ? std::string() : std::string(a.front().as_string());
  };
  if (kind == "policy_tripped") return "tripped: " + first("reasons");
  if (kind == "policy_state") return "state " + str(d, "state");
  if (kind == "action_intent") {
    std::string a = str(d, "action");
    if (a == "flag")
      return fmt::format("intent: flag {} → {} for {}", str(d, "flag"), str(d, "variant"),
                         str(d, "segment").empty() ? "everyone" : str(d, "segment"));
    if (a == "rollback") return "intent: rollback " + str(d, "rollback");
    return "intent: " + a + " " + str(d, "flag");
  }
  if (kind == "action_outcome") {
    const auto* ok = d.if_contains("ok");
    return fmt::format("outcome: {} {}", str(d, "action"), ok && ok->is_bool() && ok->as_bool() ? "ok" : "FAILED");
  }
  if (kind == "verification") return "verification: " + str(d, "result");
  if (kind == "alarm_raised") return fmt::format("alarm by {}: {}", str(d, "who"), str(d, "reason"));
  if (kind == "release_started") return fmt::format("release {} of {}", str(d, "release"), str(d, "service"));
  if (kind == "policy_paused") return fmt::format("paused by {}: {}", str(d, "who"), str(d, "reason"));
  if (kind == "policy_resumed") return "resumed by " + str(d, "who");
  if (kind == "incident_intent") return fmt::format("{} to {}", str(d, "event"), str(d, "sink"));
  if (kind.starts_with("incident_"))
    return fmt::format("{} at {} ({})", kind.substr(9), str(d, "sink"), str(d, "status"));
  if (kind == "mitigation_failed") return "mitigation failed: " + str(d, "reason");
  if (kind == "escalated") return "escalated to " + str(d, "to");
  return "";
}

std::string policy_card(const json::object& p) {
  std::string name = str(p, "name"), state = str(p, "state");
  std::string o = fmt::format("<article class=\"policy state-{}\" data-policy=\"{}\">\n", h(state), h(name));
  o += fmt::format("<h3>{} <span class=\"badge state-{}\">{}</span></h3>\n", h(name), h(state), h(state));
  o += fmt::format("<p class=\"meta\">service {} · release {}", h(str(p, "service")), h(str(p, "release")));
  if (!str(p, "incident").empty())
    o += fmt::format(" · incident <a href=\"/incidents/{}\">{}</a>", h(str(p, "incident")), h(str(p, "incident")));
  o += "</p>\n<ul class=\"signals\">\n";
  for (const auto& [sig, v] : obj(p.if_contains("last"))) {
    const json::object& l = obj(&v);
    if (l.empty()) {
      o += fmt::format("<li class=\"o-none\"><span class=\"sig\">{}</span> no observation yet</li>\n", h(sig));
      continue;
    }
    std::string outcome = str(l, "outcome"), detail = str(l, "detail");
    o += fmt::format(
        "<li class=\"o-{}\"><span class=\"sig\">{}</span> <span class=\"outcome\">{}</span> <time>{}</time>{}</li>\n",
        h(outcome), h(sig), h(outcome), h(str(l, "at")), detail.empty() ? "" : " — " + h(text::excerpt(detail, 160)));
  }
  o += "</ul>\n";
  const auto& actions = arr(p.if_contains("actions"));
  if (!actions.empty()) {
    o += "<ol class=\"done\">\n";
    for (const auto& a : actions) {
      const json::object& ao = obj(&a);
      o += fmt::format("<li>{} — {}{}</li>\n", h(str(ao, "description")), h(str(ao, "outcome")),
                       str(ao, "recovery").empty() ? "" : ", " + h(str(ao, "recovery")));
    }
    o += "</ol>\n";
  }
  bool paused = state == "paused";
  o += fmt::format("<button type=\"button\" class=\"{}\" data-action=\"{}\" data-policy=\"{}\">{} {}</button>\n",
                   paused ? "resume" : "pause", paused ? "resume" : "pause", h(name), paused ? "Resume" : "Pause",
                   h(name));
  o += "</article>\n";
  return o;
}

std::string kpi_section(const kpi::Report& k) {
  std::string o = "<section id=\"kpis\">\n<h2>Incident KPIs</h2>\n";
  o += "<p class=\"note\">From this watcher's journal. TTD: release start → detected; TTM: release start → users "
       "recovered. Median and p90 are nearest-rank (the ⌈p·n⌉-th smallest).</p>\n";
  o += fmt::format(
      "<table class=\"kpi\"><thead><tr><th></th><th>n</th><th>median</th><th>p90</th></tr></thead><tbody>\n"
      "<tr><th scope=\"row\">TTD</th><td>{}</td><td>{}</td><td>{}</td></tr>\n"
      "<tr><th scope=\"row\">TTM</th><td>{}</td><td>{}</td><td>{}</td></tr>\n</tbody></table>\n",
      k.ttd.n, h(human_ms_opt(k.ttd.median)), h(human_ms_opt(k.ttd.p90)), k.ttm.n, h(human_ms_opt(k.ttm.median)),
      h(human_ms_opt(k.ttm.p90)));
  if (!k.services.empty()) {
    o += "<table class=\"kpi\"><thead><tr><th>service</th><th>incidents</th><th>best TTD</th><th>worst TTD</th>"
         "<th>best TTM</th><th>worst TTM</th></tr></thead><tbody>\n";
    auto ex = [](const std::optional<kpi::Extreme>& e) { return e ? review::human_ms(e->ms) : std::string("—"); };
    for (const auto& s : k.services)
      o += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", h(s.service),
                       s.incidents, h(ex(s.best_ttd)), h(ex(s.worst_ttd)), h(ex(s.best_ttm)), h(ex(s.worst_ttm)));
    o += "</tbody></table>\n";
  }
  if (!k.months.empty()) {
    o += "<table class=\"kpi\"><thead><tr><th>month (UTC)</th><th>incidents</th><th>median TTD</th><th>median TTM</th>"
         "</tr></thead><tbody>\n";
    for (const auto& m : k.months)
      o += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", h(m.month), m.incidents,
                       h(human_ms_opt(m.ttd.median)), h(human_ms_opt(m.ttm.median)));
    o += "</tbody></table>\n";
  }
  if (!k.incidents.empty()) {
    o += "<details><summary>Every incident</summary>\n<table class=\"kpi\"><thead><tr><th>incident</th><th>service</th>"
         "<th>state</th><th>detected</th><th>TTD</th><th>TTM</th></tr></thead><tbody>\n";
    for (auto it = k.incidents.rbegin(); it != k.incidents.rend(); ++it)
      o += fmt::format(
          "<tr><td><a href=\"/incidents/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          h(it->key), h(it->key), h(it->service), h(it->state), h(it->tripped), h(human_ms_opt(it->ttd_ms)),
          h(human_ms_opt(it->ttm_ms)));
    o += "</tbody></table>\n</details>\n";
  } else {
    o += "<p>No incident in the journal yet.</p>\n";
  }
  return o + "</section>\n";
}

std::string head_html(std::string_view title) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n"
      "<link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/static/app.css\">\n"
      "<script src=\"/static/app.js\" defer></script>\n</head>\n",
      h(title));
}

}  // namespace

std::string render_live(const PageInput& in) {
  const json::object& s = in.status;
  std::string o = fmt::format("<div id=\"live\" data-head=\"{}\">\n", h(str(s, "journal_head")));

  o += "<section id=\"policies\">\n<h2>Policies</h2>\n";
  const auto& policies = arr(s.if_contains("policies"));
  if (policies.empty()) o += "<p>No policy.</p>\n";
  for (const auto& p : policies) o += policy_card(obj(&p));
  o += "</section>\n";

  o += "<section id=\"releases\">\n<h2>Current "
       "releases</h2>\n<table><thead><tr><th>service</th><th>release</th></tr></thead><tbody>\n";
  for (const auto& v : arr(s.if_contains("services")))
    o += fmt::format("<tr><td>{}</td><td class=\"release\">{}</td></tr>\n", h(str(obj(&v), "name")),
                     h(str(obj(&v), "release").empty() ? "unknown" : str(obj(&v), "release")));
  o += "</tbody></table>\n</section>\n";

  o += "<section id=\"incidents\">\n<h2>Open incidents</h2>\n";
  const auto& incidents = arr(s.if_contains("incidents"));
  if (incidents.empty()) o += "<p class=\"calm\">No open incident.</p>\n";
  for (const auto& v : incidents) {
    const json::object& i = obj(&v);
    std::string key = str(i, "key");
    o += fmt::format(
        "<article class=\"incident state-{}\" data-incident=\"{}\">\n<h3><a href=\"/incidents/{}\">{}</a> "
        "<span class=\"badge state-{}\">{}</span></h3>\n",
        h(str(i, "state")), h(key), h(key), h(key), h(str(i, "state")), h(str(i, "state")));
    o += fmt::format("<p class=\"meta\">{}service {} · scope: <span class=\"scope\">{}</span></p>\n",
                     str(i, "policy").empty() ? "raised by a person · " : "policy " + h(str(i, "policy")) + " · ",
                     h(str(i, "service")), h(str(i, "scope").empty() ? "the whole service" : str(i, "scope")));
    std::vector<std::string> done;
    for (const auto& r : arr(i.if_contains("reasons")))
      if (r.is_string()) o += fmt::format("<p class=\"reason\">{}</p>\n", h(r.as_string()));
    for (const auto& a : arr(i.if_contains("actions")))
      if (a.is_string()) done.emplace_back(a.as_string());
    // A policy's incident: what its ladder did is on the policy.
    for (const auto& p : policies)
      if (str(obj(&p), "name") == str(i, "policy"))
        for (const auto& a : arr(obj(&p).if_contains("actions")))
          done.push_back(fmt::format("{} — {}", str(obj(&a), "description"), str(obj(&a), "outcome")));
    if (!done.empty()) {
      o += "<p>What was done:</p>\n<ol class=\"done\">\n";
      for (const auto& d : done) o += fmt::format("<li>{}</li>\n", h(d));
      o += "</ol>\n";
    }
    o += "</article>\n";
  }
  o += "</section>\n";

  o += "<section id=\"decisions\">\n<h2>Last decisions</h2>\n<ol class=\"decisions\" reversed>\n";
  for (auto it = in.decisions.rbegin(); it != in.decisions.rend(); ++it) {
    const json::object& r = obj(&*it);
    const auto* seq = r.if_contains("seq");
    std::string text = decision_text(r);
    o += fmt::format("<li><span class=\"seq\">#{}</span> <time>{}</time> <span class=\"kind\">{}</span>{}{}</li>\n",
                     seq && seq->is_int64() ? seq->as_int64() : 0, h(str(r, "time")), h(str(r, "kind")),
                     str(r, "policy").empty() ? "" : " <span class=\"pol\">" + h(str(r, "policy")) + "</span>",
                     text.empty() ? "" : " " + h(text::excerpt(text, 200)));
  }
  o += "</ol>\n</section>\n";

  o += kpi_section(in.kpis);
  o += "</div>\n";
  return secrets::redact(o);
}

std::string render_page(const PageInput& in) {
  const json::object& s = in.status;
  std::string title = fmt::format("{} ({}) — deployguard", str(s, "service"), str(s, "environment"));
  std::string o = head_html(title);
  o += fmt::format(
      "<body data-identity=\"{}\" data-trusted-header=\"{}\" data-alarm-token=\"{}\" data-read-token=\"{}\">\n",
      h(in.identity), h(in.trusted_header), in.alarm_token_configured ? "configured" : "none",
      in.read_token_configured ? "configured" : "none");
  o += fmt::format(
      "<header>\n<h1>{} <small>{}</small></h1>\n<p class=\"meta\">deployguard watch · journal head "
      "<code id=\"head\">{}</code> · <span id=\"live-status\">rendered by the server</span></p>\n</header>\n<main>\n",
      h(str(s, "service")), h(str(s, "environment")), h(str(s, "journal_head")));

  // The big button. Its form never submits by itself (form-action 'none'):
  // the script posts JSON with the token, so a browser without it cannot
  // send a mutation the listener would take for a form post.
  o += "<section id=\"alarm\">\n<h2>Raise the alarm</h2>\n"
       "<p>Users hurt? Say what you see. This opens an incident through the guard's incident sinks "
       "(a second press for the same scope updates the open one) and is journaled with who and why.</p>\n"
       "<form id=\"alarm-form\" autocomplete=\"off\">\n"
       "<label for=\"alarm-reason\">What is wrong</label>\n"
       "<textarea id=\"alarm-reason\" name=\"reason\" rows=\"3\" maxlength=\"2000\" "
       "placeholder=\"e.g. the editor is empty for tenants without plugins\"></textarea>\n"
       "<div class=\"row\">\n<div><label for=\"alarm-service\">Service</label>\n<select id=\"alarm-service\" "
       "name=\"service\">\n";
  for (const auto& v : arr(s.if_contains("services"))) {
    std::string name = str(obj(&v), "name");
    o += fmt::format("<option value=\"{}\"{}>{}</option>\n", h(name), name == str(s, "service") ? " selected" : "",
                     h(name));
  }
  o += "</select></div>\n<div><label for=\"alarm-scope\">Who is affected (optional)</label>\n"
       "<input id=\"alarm-scope\" name=\"scope\" maxlength=\"500\" placeholder=\"segment: pluginCount == "
       "0\"></div>\n</div>\n";
  if (in.identity.empty()) {
    o += "<div class=\"row\" id=\"who-row\">\n<div><label for=\"alarm-who\">Your name (optional)</label>\n"
         "<input id=\"alarm-who\" name=\"who\" maxlength=\"200\"></div>\n"
         "<div id=\"token-box\"><label for=\"alarm-token\">Alarm token</label>\n"
         "<input id=\"alarm-token\" name=\"token\" type=\"password\" autocomplete=\"off\" placeholder=\"entered once, "
         "kept for this tab\">\n"
         "<p id=\"token-kept\" class=\"note\" hidden>Token kept for this tab. <button type=\"button\" "
         "id=\"forget-token\">Forget it</button></p>\n"
         "</div>\n</div>\n";
  } else {
    o += fmt::format(
        "<p class=\"note\" id=\"identity\">You are <strong>{}</strong> (from the sign-in proxy); that is "
        "what the journal records.</p>\n",
        h(in.identity));
  }
  o += "<button type=\"submit\" id=\"raise\" class=\"big\">Raise the alarm</button>\n"
       "<p id=\"alarm-result\" role=\"status\" aria-live=\"polite\"></p>\n</form>\n"
       "<noscript><p class=\"warn\">Raising the alarm from this page needs JavaScript. Without it: "
       "<code>deployguard alarm --config FILE --reason TEXT</code>, or <code>POST /api/v1/alarm</code> with the "
       "token.</p></noscript>\n";
  if (!in.alarm_token_configured && in.trusted_header.empty())
    o += "<p class=\"warn\" id=\"no-mutations\">This watcher takes no alarm from anyone: neither "
         "<code>watch.alarm_token</code> nor <code>watch.trusted_user_header</code> is configured.</p>\n";
  o += "</section>\n";

  o += render_live(in);
  o += "</main>\n<footer><p class=\"note\">Reviews of past incidents: <code>/incidents/KEY</code> (linked above) or "
       "<code>deployguard review --journal J --incident KEY</code>.</p></footer>\n</body>\n</html>\n";
  return secrets::redact(o);
}

std::string render_locked_page() {
  std::string o = head_html("deployguard — read token needed");
  o += "<body data-locked=\"read-token\" data-identity=\"\" data-trusted-header=\"\" data-alarm-token=\"unknown\" "
       "data-read-token=\"configured\">\n<header><h1>deployguard</h1></header>\n<main>\n"
       "<section id=\"locked\">\n<h2>This status page needs the read token</h2>\n"
       "<p>The watcher is configured with <code>watch.read_token</code>: send it as <code>Authorization: Bearer "
       "...</code>, "
       "reach the page through the sign-in proxy (<code>watch.trusted_user_header</code>), or enter the token here; it "
       "is "
       "kept for this tab only.</p>\n<form id=\"read-form\" autocomplete=\"off\">\n<label for=\"read-token\">Read "
       "token</label>\n"
       "<input id=\"read-token\" type=\"password\" autocomplete=\"off\">\n<button type=\"submit\">Show the "
       "status</button>\n"
       "<p id=\"read-result\" role=\"status\"></p>\n</form>\n"
       "<noscript><p class=\"warn\">Without JavaScript, send the token in an Authorization header.</p></noscript>\n"
       "</section>\n<div id=\"live\"></div>\n</main>\n</body>\n</html>\n";
  return o;
}

const std::string& app_css() {
  static const std::string kCss = R"CSS(
:root { --fg: #111827; --muted: #4b5563; --line: #d1d5db; --bg: #ffffff; --panel: #f9fafb;
  --ok: #15803d; --bad: #b91c1c; --warn: #b45309; --info: #1d4ed8; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
  margin: 0 auto; max-width: 72rem; padding: 0.75rem; }
h1 { font-size: 1.4rem; margin: 0.2rem 0; } h1 small { color: var(--muted); font-weight: normal; }
h2 { font-size: 1.15rem; margin: 1.4rem 0 0.5rem; border-bottom: 2px solid var(--fg); padding-bottom: 0.15rem; }
h3 { font-size: 1rem; margin: 0 0 0.3rem; }
.meta, .note { color: var(--muted); font-size: 0.9rem; margin: 0.2rem 0; }
code { font-size: 0.85rem; overflow-wrap: anywhere; }
#alarm { background: #fef2f2; border: 2px solid var(--bad); border-radius: 0.6rem; padding: 0.4rem 0.9rem 0.9rem; }
#alarm h2 { border: 0; color: var(--bad); margin-top: 0.5rem; }
label { display: block; font-weight: 600; margin: 0.5rem 0 0.2rem; }
textarea, input, select { width: 100%; font: inherit; padding: 0.5rem; border: 1px solid var(--line); border-radius: 0.4rem; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 0.75rem; }
button { font: inherit; padding: 0.45rem 0.9rem; border-radius: 0.4rem; border: 1px solid var(--fg); background: #fff; cursor: pointer; }
button.big { display: block; width: 100%; margin-top: 0.9rem; padding: 1rem; font-size: 1.3rem; font-weight: 700;
  color: #fff; background: var(--bad); border: 0; }
button.big:focus, button.big:hover { background: #991b1b; }
#alarm-result { font-weight: 600; min-height: 1.4em; }
#alarm-result.ok { color: var(--ok); } #alarm-result.bad, .warn { color: var(--bad); }
#policies { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: 0.75rem; }
#policies h2 { grid-column: 1 / -1; }
article { border: 1px solid var(--line); border-left-width: 6px; border-radius: 0.5rem; padding: 0.6rem 0.8rem; background: var(--panel); margin-bottom: 0.6rem; }
.badge { display: inline-block; font-size: 0.8rem; padding: 0.05rem 0.5rem; border-radius: 1rem; color: #fff; background: var(--muted); vertical-align: middle; }
.state-watching { border-left-color: var(--ok); } .badge.state-watching { background: var(--ok); }
.state-mitigated { border-left-color: var(--info); } .badge.state-mitigated { background: var(--info); }
.state-tripped, .state-mitigating, .state-verifying, .state-escalated { border-left-color: var(--warn); }
.badge.state-tripped, .badge.state-mitigating, .badge.state-verifying, .badge.state-escalated, .badge.state-investigating { background: var(--warn); }
.state-failed { border-left-color: var(--bad); } .badge.state-failed { background: var(--bad); }
.state-paused { border-left-color: var(--muted); }
ul.signals { list-style: none; padding: 0; margin: 0.3rem 0; font-size: 0.9rem; }
ul.signals li { padding: 0.1rem 0; overflow-wrap: anywhere; }
ul.signals .sig { font-weight: 600; }
.o-passed .outcome, .o-ok .outcome { color: var(--ok); } .o-failed .outcome { color: var(--bad); } .o-error .outcome, .o-no_data .outcome { color: var(--warn); }
ol.done { margin: 0.3rem 0; padding-left: 1.3rem; font-size: 0.9rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 0.3rem 0 0.6rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.4rem; text-align: left; overflow-wrap: anywhere; }
thead th { background: #f3f4f6; }
ol.decisions { font-size: 0.88rem; padding-left: 1.5rem; }
ol.decisions .kind { font-weight: 600; } ol.decisions .seq, ol.decisions time { color: var(--muted); }
.calm { color: var(--ok); }
@media (max-width: 40rem) {
  body { padding: 0.5rem; font-size: 15px; }
  .row { grid-template-columns: 1fr; gap: 0; }
  #policies { grid-template-columns: 1fr; }
  ol.decisions time { display: block; }
}
@media print { #alarm, button { display: none; } }
)CSS";
  return kCss;
}

const std::string& app_js() {
  // No framework and no innerHTML of anything but the server's own rendering
  // (parsed with DOMParser, which runs no script). The token lives in
  // sessionStorage: entered once, gone when the tab closes, never a cookie.
  static const std::string kJs = R"JS('use strict';
(function () {
  var body = document.body;
  var ALARM_KEY = 'deployguard.alarm_token', READ_KEY = 'deployguard.read_token';
  function stored(key) { try { return window.sessionStorage.getItem(key) || ''; } catch (e) { return ''; } }
  function store(key, value) { try { if (value) window.sessionStorage.setItem(key, value); else window.sessionStorage.removeItem(key); } catch (e) {} }
  var identity = body.getAttribute('data-identity') || '';
  var trustedHeader = body.getAttribute('data-trusted-header') || '';
  var tokenConfigured = body.getAttribute('data-alarm-token') === 'configured';
  var locked = body.getAttribute('data-locked') === 'read-token';
  var $ = function (id) { return document.getElementById(id); };

  function readHeaders() {
    var t = stored(READ_KEY) || stored(ALARM_KEY);
    return t ? { 'Authorization': 'Bearer ' + t } : {};
  }
  function setLive(text) { var el = $('live-status'); if (el) el.textContent = text; }

  // ---- live updates: poll the status; when it changed, take the server's new rendering ----
  var lastStatus = '';
  function refresh() {
    return fetch('/?part=live', { headers: readHeaders(), cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('live');
      var old = $('live');
      if (fresh && old) {
        old.replaceWith(document.importNode(fresh, true));
        var head = $('head');
        if (head) head.textContent = fresh.getAttribute('data-head') || '';
      }
    });
  }
  function poll() {
    fetch('/api/v1/status', { headers: readHeaders(), cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    }).then(function (text) {
      if (text === lastStatus) return null;
      lastStatus = text;
      return refresh();
    }).then(function () {
      setLive('live, updated ' + new Date().toLocaleTimeString());
    }).catch(function (e) {
      setLive('not updating (' + e.message + '); retrying');
    }).then(function () { window.setTimeout(poll, 2000); });
  }

  // ---- mutations: the alarm token (kept for the tab) or the proxy's identity ----
  function canMutate() { return identity !== '' || stored(ALARM_KEY) !== ''; }
  function missingText() {
    if (!tokenConfigured && !trustedHeader)
      return 'Not sent: this watcher takes no alarm from anyone (no watch.alarm_token and no watch.trusted_user_header is configured). Use your paging tool.';
    var ways = [];
    if (tokenConfigured) ways.push('enter the alarm token in its field (ask the on-call team for it)');
    if (trustedHeader) ways.push('open this page through the sign-in proxy (it sets ' + trustedHeader + ')');
    return 'Not sent: the alarm token is missing. ' + ways.join(', or ').replace(/^./, function (c) { return c.toUpperCase(); }) +
      '. Nothing was recorded.';
  }
  function post(path, payload) {
    var headers = { 'Content-Type': 'application/json' };
    var t = stored(ALARM_KEY);
    if (t) headers['Authorization'] = 'Bearer ' + t;
    return fetch(path, { method: 'POST', headers: headers, body: JSON.stringify(payload), cache: 'no-store' })
      .then(function (r) {
        return r.text().then(function (text) {
          var data = {};
          try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
          if (r.status === 401 && t) { store(ALARM_KEY, ''); showToken(); }
          return { ok: r.ok, status: r.status, data: data };
        });
      });
  }
  function takeToken() {
    var input = $('alarm-token');
    if (input && input.value) { store(ALARM_KEY, input.value.trim()); input.value = ''; }
    showToken();
  }
  function showToken() {
    var input = $('alarm-token'), kept = $('token-kept');
    if (!input || !kept) return;
    var has = stored(ALARM_KEY) !== '';
    input.hidden = has;
    kept.hidden = !has;
    var label = document.querySelector('label[for="alarm-token"]');
    if (label) label.hidden = has;
  }
  function say(el, text, ok) {
    if (!el) return;
    el.textContent = text;
    el.className = ok ? 'ok' : 'bad';
  }

  var form = $('alarm-form');
  if (form) {
    showToken();
    var forget = $('forget-token');
    if (forget) forget.addEventListener('click', function () { store(ALARM_KEY, ''); showToken(); });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      takeToken();
      var result = $('alarm-result');
      var reason = ($('alarm-reason').value || '').trim();
      // Everything that is missing, at once: who you are first, then what is wrong.
      if (!canMutate()) { say(result, missingText() + (reason ? '' : ' Also say what is wrong.'), false); return; }
      if (!reason) { say(result, 'Not sent: say what is wrong first.', false); return; }
      var payload = { reason: reason };
      var service = $('alarm-service'), scope = $('alarm-scope'), who = $('alarm-who');
      if (service && service.value) payload.service = service.value;
      if (scope && scope.value.trim()) payload.scope = scope.value.trim();
      if (who && who.value.trim()) payload.who = who.value.trim();
      var button = $('raise');
      button.disabled = true;
      say(result, 'Sending…', true);
      post('/api/v1/alarm', payload).then(function (r) {
        if (r.ok) say(result, 'Alarm raised: incident ' + r.data.incident + ' (recorded as ' + r.data.who + ').', true);
        else say(result, 'Not raised (' + r.status + '): ' + (r.data.error || 'unknown error') + '.', false);
        return refresh();
      }).catch(function (e) {
        say(result, 'Not raised: the watcher did not answer (' + e.message + ').', false);
      }).then(function () { button.disabled = false; });
    });
  }

  // Pause / resume, on the live part (re-rendered, hence delegated).
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('button[data-action]') : null;
    if (!b) return;
    var action = b.getAttribute('data-action'), policy = b.getAttribute('data-policy');
    var result = $('alarm-result');
    takeToken();
    if (!canMutate()) { window.alert(missingText()); return; }
    var question = action === 'pause'
      ? 'Pause policy ' + policy + '? It will not be judged and nothing will be acted on until it is resumed.'
      : 'Resume policy ' + policy + '?';
    if (!window.confirm(question)) return;
    var who = $('alarm-who');
    var payload = { reason: action + 'd from the status page' };
    if (who && who.value.trim()) payload.who = who.value.trim();
    post('/api/v1/policies/' + encodeURIComponent(policy) + '/' + action, payload).then(function (r) {
      if (r.ok) say(result, 'Policy ' + policy + ' is now ' + r.data.state + '.', true);
      else say(result, 'Could not ' + action + ' ' + policy + ' (' + r.status + '): ' + (r.data.error || '') + '.', false);
      return refresh();
    }).catch(function (e) { say(result, 'The watcher did not answer (' + e.message + ').', false); });
  });

  // The locked page: a read token entered here, then the live part fetched with it.
  var readForm = $('read-form');
  if (readForm) {
    readForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = ($('read-token').value || '').trim();
      if (!v) { say($('read-result'), 'Enter the read token first.', false); return; }
      store(READ_KEY, v);
      refresh().then(function () { say($('read-result'), 'Shown with the read token (kept for this tab).', true); poll(); })
        .catch(function (e) { store(READ_KEY, ''); say($('read-result'), 'Refused (' + e.message + ').', false); });
    });
    if (stored(READ_KEY)) refresh().then(poll).catch(function () { store(READ_KEY, ''); });
  }
  if (!locked) poll();
})();
)JS";
  return kJs;
}

}  // namespace dg::status_page
