#include "agent/verify/report.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace json = boost::json;

std::string secs(TimePoint from, TimePoint to) {
  return fmt::format("{:.1f}s", std::chrono::duration<double>(to - from).count());
}

std::optional<double> secs_or_null(TimePoint from, const std::optional<TimePoint>& to) {
  if (!to) return std::nullopt;
  return std::chrono::duration<double>(*to - from).count();
}

const char* verdict_line(int code) {
  switch (code) {
    case kHealthy: return "HEALTHY: the release passed the bake";
    case kMitigated: return "TRIPPED and MITIGATED: stop the pipeline; users recovered";
    case kMitigationFailed: return "TRIPPED and NOT MITIGATED: a human is needed now";
    case kInconclusive: return "INCONCLUSIVE: not enough evidence to call the release healthy";
  }
  return "?";
}

// JUnit text: redacted before it is escaped (a secret with '&' or '<' would
// otherwise be searched for in a spelling it no longer has).
std::string esc(std::string_view s) { return text::xml_escape(secrets::redact(s)); }

}  // namespace

std::string summary_text(const VerifyReport& r) {
  // Each value is redacted as it goes in (excerpts before they cut), so the
  // times and numbers we print are never garbled by a short secret.
  auto red = [](std::string_view s) { return secrets::redact(s); };
  std::string out;
  out += fmt::format("\n== deployguard verify: {} {} release {} ==\n", red(r.service), red(r.environment), red(r.release));
  out += fmt::format("result: {} (exit {}){}\n", verdict_line(r.exit_code), r.exit_code,
                     r.dry_run ? " [dry run: no side effects]" : "");
  out += fmt::format("baked {} of {}{}\n", secs(r.started, r.finished), text::rfc3339(r.started),
                     r.interrupted ? " (interrupted)" : "");
  out += "probes:\n";
  for (const auto& p : r.probes) {
    if (p.runs == 0) continue;
    out += fmt::format("  {:<28} {:<8} {} run(s): {} passed, {} failed, {} error(s); last: {}\n", red(p.name), p.type,
                       p.runs, p.passed, p.failed, p.errors, secrets::excerpt(p.last_detail, 160));
  }
  out += "policies:\n";
  for (const auto& p : r.policies) {
    out += fmt::format("  {:<28} {}\n", red(p.name), p.state);
    for (const auto& reason : p.reasons) out += fmt::format("      {}\n", secrets::excerpt(reason, 300));
    if (p.tripped_at) {
      out += fmt::format("      time to detect: {} after the bake started", secs(r.started, *p.tripped_at));
      if (p.first_failure) out += fmt::format(" (first failing observation at +{})", secs(r.started, *p.first_failure));
      out += "\n";
    }
    for (size_t i = 0; i < p.actions.size(); ++i) {
      const auto& a = p.actions[i];
      out += fmt::format("      step {}: {} -> {}{}\n", i + 1, red(a.description), a.outcome,
                         a.recovery.empty() ? "" : ", " + red(a.recovery));
      if (!a.detail.empty()) out += fmt::format("              {}\n", secrets::excerpt(a.detail, 300));
    }
    if (p.recovered_at)
      out += fmt::format("      time to mitigate: {} after the bake started ({} after detection)\n",
                         secs(r.started, *p.recovered_at), secs(*p.tripped_at, *p.recovered_at));
    for (const auto& a : p.seen)
      if (a.kind == "screenshot") out += fmt::format("      screenshot of what users see: {} (sha256 {})\n", red(a.path), a.sha256);
    if (!p.incident_key.empty()) out += fmt::format("      incident: {}\n", red(p.incident_key));
  }
  if (!r.incident_delivery.empty()) {
    out += "incident delivery:\n";
    for (const auto& d : r.incident_delivery) out += fmt::format("  {}\n", red(d));
  }
  for (const auto& w : r.warnings) out += fmt::format("WARNING: {}\n", red(w));
  out += fmt::format("journal: {}\n", red(r.journal));
  if (!r.journal_head.empty())
    out += fmt::format("journal head: {} (check with `deployguard journal verify --head {}`)\n", r.journal_head,
                       r.journal_head);
  return out;
}

std::string report_json(const VerifyReport& r) {
  json::array probes;
  for (const auto& p : r.probes)
    probes.push_back({{"name", p.name}, {"type", p.type}, {"runs", p.runs}, {"passed", p.passed},
                      {"failed", p.failed}, {"errors", p.errors}, {"last_detail", p.last_detail}});
  json::array policies;
  for (const auto& p : r.policies) {
    json::array actions;
    for (const auto& a : p.actions) {
      json::array reasons;
      for (const auto& s : a.recovery_reasons) reasons.emplace_back(s);
      // "at" is added after redaction (below): a short secret must not garble it.
      actions.push_back({{"description", a.description}, {"type", a.type}, {"outcome", a.outcome},
                         {"detail", a.detail}, {"recovery", a.recovery}, {"recovery_reasons", reasons}});
    }
    json::array reasons;
    for (const auto& s : p.reasons) reasons.emplace_back(s);
    json::object o{{"name", p.name}, {"state", p.state}, {"reasons", reasons}, {"actions", actions}};
    if (!p.probe.empty()) o["probe"] = p.probe;
    if (!p.experience.empty()) o["experience"] = p.experience;
    if (!p.seen.empty()) {
      json::array seen;
      for (const auto& a : p.seen) seen.push_back({{"kind", a.kind}, {"path", a.path}, {"sha256", a.sha256}, {"bytes", a.bytes}});
      o["artifacts"] = std::move(seen);
    }
    if (!p.incident_key.empty()) o["incident_key"] = p.incident_key;
    auto put = [&](const char* key, const std::optional<double>& v) {
      if (v) o[key] = *v;
      else o[key] = nullptr;
    };
    put("time_to_detect_seconds", secs_or_null(r.started, p.tripped_at));
    put("time_to_mitigate_seconds", secs_or_null(r.started, p.recovered_at));
    policies.push_back(std::move(o));
  }
  json::object doc{{"service", r.service},
                   {"environment", r.environment},
                   {"release", r.release},
                   {"exit_code", r.exit_code},
                   {"result", verdict_line(r.exit_code)},
                   {"dry_run", r.dry_run},
                   {"interrupted", r.interrupted},
                   {"started", text::rfc3339(r.started)},
                   {"finished", text::rfc3339(r.finished)},
                   {"bake_seconds", std::chrono::duration<double>(r.bake).count()},
                   {"journal", r.journal},
                   {"journal_head", r.journal_head},
                   {"config_digest", r.config_digest},
                   {"probes", probes},
                   {"policies", policies}};
  json::array delivery, warnings;
  for (const auto& d : r.incident_delivery) delivery.emplace_back(d);
  for (const auto& w : r.warnings) warnings.emplace_back(w);
  doc["incident_delivery"] = delivery;
  doc["warnings"] = warnings;
  // Redacted as a value, never as serialized text; the times we wrote stay.
  json::value v = std::move(doc);
  secrets::redact_json(v, {"started", "finished", "journal_head"});
  auto& out_policies = v.get_object()["policies"].get_array();
  for (size_t i = 0; i < r.policies.size(); ++i) {
    auto& acts = out_policies[i].get_object()["actions"].get_array();
    for (size_t k = 0; k < r.policies[i].actions.size(); ++k)
      acts[k].get_object()["at"] = text::rfc3339(r.policies[i].actions[k].at);
  }
  return pretty_json(v);
}

std::string report_junit(const VerifyReport& r) {
  int failures = 0, skipped = 0;
  for (const auto& p : r.policies) {
    failures += p.state == "mitigated" || p.state == "mitigation_failed" || p.state == "tripped_dry_run";
    skipped += p.state == "inconclusive" || p.state == "not_judged";
  }
  double total = std::chrono::duration<double>(r.finished - r.started).count();
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"deployguard verify\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                     r.policies.size(), failures, skipped, total);
  out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3f}\" timestamp=\"{}\">\n",
                     esc(fmt::format("{} {} release {}", r.service, r.environment, r.release)),
                     r.policies.size(), failures, skipped, total, text::rfc3339(r.started));
  out += "    <properties>\n";
  out += fmt::format("      <property name=\"journal\" value=\"{}\"/>\n", esc(r.journal));
  out += fmt::format("      <property name=\"journal_head\" value=\"{}\"/>\n", text::xml_escape(r.journal_head));
  for (const auto& w : r.warnings) out += fmt::format("      <property name=\"warning\" value=\"{}\"/>\n", esc(w));
  out += "    </properties>\n";
  for (const auto& p : r.policies) {
    out += fmt::format("    <testcase classname=\"deployguard.{}\" name=\"{}\" time=\"{:.3f}\">\n",
                       esc(r.service), esc(p.name), total);
    std::string body = text::join(p.reasons, "\n");
    for (const auto& a : p.actions)
      body += fmt::format("\n{} -> {}{} {}", a.description, a.outcome, a.recovery.empty() ? "" : " (" + a.recovery + ")", a.detail);
    if (p.state == "mitigated" || p.state == "mitigation_failed" || p.state == "tripped_dry_run") {
      out += fmt::format("      <failure type=\"{}\" message=\"{}\">{}</failure>\n", p.state,
                         esc(p.reasons.empty() ? p.state : p.reasons.front()), esc(body));
    } else if (p.state == "inconclusive" || p.state == "not_judged") {
      out += fmt::format("      <skipped message=\"{}\"/>\n", esc(p.state + ": " + text::join(p.reasons, "; ")));
    } else {
      out += fmt::format("      <system-out>{}</system-out>\n", esc(body));
    }
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace dg
