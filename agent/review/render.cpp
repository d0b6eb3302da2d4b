// Renders a review model as Markdown and as one self-contained HTML page.
// Both say the same things in the same order: the sections the well-known
// templates share (Atlassian's PIR, the SRE book's postmortem, PagerDuty's),
// the ones only people can write left empty.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/review/review.h"

namespace dg::review {
namespace {

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

std::string ms_or(const std::optional<long long>& ms, std::string_view none = "n/a") {
  return ms ? fmt::format("{} ({} ms)", human_ms(*ms), *ms) : std::string(none);
}

// Markdown text: no HTML, no table breaks.
std::string md(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '|':
        out += "\\|";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\n':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string h(std::string_view s) { return text::xml_escape(s); }

std::string state_words(const Incident& i) {
  if (i.state == "mitigated") return "mitigated: users recovered";
  if (i.state == "fixed") return "mitigated, then fixed (the mitigation was lifted)";
  if (i.state == "mitigation_failed") return "NOT mitigated: no step recovered users (a human was needed)";
  if (i.state == "dry_run") return "dry run: nothing was done";
  return i.alarm ? "open (raised by a person; the guard takes no step without a policy)" : "open";
}

std::string summary_of(const Incident& i) {
  std::string s;
  if (i.alarm && i.policy.empty())
    s = fmt::format("{} raised the alarm for {} of {} (release {}) at {}: \"{}\".", or_unknown(i.raised_by),
                    or_unknown(i.scope), or_unknown(i.service), or_unknown(i.release), i.tripped, i.alarm_reason);
  else if (i.alarm)
    s = fmt::format("{} raised the alarm at {} (\"{}\"), which started the ladder of policy {} for {} release {}.",
                    or_unknown(i.raised_by), i.tripped, i.alarm_reason, i.policy, or_unknown(i.service),
                    or_unknown(i.release));
  else
    s = fmt::format("Release {} of {} hurt users: policy {} tripped at {} ({}).", or_unknown(i.release),
                    or_unknown(i.service), i.policy, i.tripped, text::join(i.reasons, "; "));
  if (!i.scope.empty()) s += fmt::format(" Affected: {}.", i.scope);
  if (!i.actions.empty()) {
    std::vector<std::string> steps;
    for (const auto& a : i.actions) steps.push_back(fmt::format("{} ({})", a.intent, a.outcome));
    s += fmt::format(" The guard acted {} time{}: {}.", i.actions.size(), i.actions.size() == 1 ? "" : "s",
                     text::join(steps, "; then "));
  }
  s += " Outcome: " + state_words(i) + ".";
  if (i.ttd_ms) s += fmt::format(" Time to detect {}", human_ms(*i.ttd_ms));
  if (i.ttm_ms) s += fmt::format(", time to mitigate {}", human_ms(*i.ttm_ms));
  if (i.ttd_ms) s += " (from the release start).";
  return s;
}

std::string frequency_of(const Incident& i) {
  for (const auto& s : i.signals)
    if (s.signal == i.signal && s.judged > 0)
      return fmt::format("{} — {} of {} judged observations of {} failed ({:.0f} %)", i.frequency, s.failed, s.judged,
                         s.signal, 100.0 * s.failed / s.judged);
  return i.frequency;
}

std::string duration_of(const Incident& i) {
  if (!i.impact_ms) return "unknown";
  std::string from = i.first_failure.empty() ? "the trip" : "the first failing observation";
  if (i.impact_ongoing)
    return fmt::format("at least {} (from {} to the last record; not recovered in this journal)", ms_or(i.impact_ms),
                       from);
  return fmt::format("{} (from {} to users recovered)", ms_or(i.impact_ms), from);
}

std::vector<std::string> other_signals(const Incident& i) {
  std::vector<std::string> out;
  for (const auto& s : i.signals) {
    if (s.signal == i.signal || s.judged == 0) continue;
    out.push_back(
        fmt::format("{}: {} of {} failed{}", s.signal, s.failed, s.judged, s.failed == 0 ? " (not affected)" : ""));
  }
  return out;
}

std::string proof_line(const Model& m) { return fmt::format("journal head {}:{}", m.head_seq, m.head_hash); }

// ---- Markdown ----

void md_incident(std::string& o, const Model& m, const Incident& i, int level) {
  std::string hh(static_cast<size_t>(level), '#');
  o += fmt::format("{} {}\n\n", hh, md(i.title));
  o += "| | |\n|---|---|\n";
  o += fmt::format("| Incident | `{}` |\n", i.key);
  o += fmt::format("| Service | {} ({}) |\n", md(or_unknown(i.service)), md(or_unknown(i.environment)));
  o += fmt::format("| Release | {} |\n", md(or_unknown(i.release)));
  if (!i.policy.empty()) o += fmt::format("| Policy | {} |\n", md(i.policy));
  o += fmt::format("| Outcome | {} |\n", md(state_words(i)));
  o += fmt::format("| Time to detect | {} from the release start; {} from the first failing observation |\n",
                   ms_or(i.ttd_ms), ms_or(i.ttd_first_failure_ms));
  o += fmt::format("| Time to mitigate | {} |\n",
                   i.ttm_ms ? ms_or(i.ttm_ms) + " from the release start" : "not mitigated");
  o += fmt::format("| Times from | {} |\n\n", i.times_from);

  o += fmt::format("{}# Summary\n\n{}\n\n", hh, md(summary_of(i)));

  o += fmt::format("{}# Impact\n\n", hh);
  o += fmt::format("- **Who was affected:** {}\n", md(or_unknown(i.scope)));
  if (!i.segments.empty())
    o += fmt::format("- **Segment targeted by the mitigation:** {}\n", md(text::join(i.segments, "; ")));
  o += fmt::format("- **What they experienced:** {}\n", md(or_unknown(i.experience)));
  o += fmt::format("- **Every time or sometimes:** {}\n", md(frequency_of(i)));
  for (const auto& s : other_signals(i)) o += fmt::format("- **Other signals:** {}\n", md(s));
  o += fmt::format("- **For how long:** {}\n\n", md(duration_of(i)));

  o += fmt::format("{}# Detection\n\n", hh);
  o += fmt::format("- **Signal:** {}\n",
                   md(i.signal == "alarm" ? "the alarm, raised by " + or_unknown(i.raised_by) : or_unknown(i.signal)));
  for (const auto& r : i.reasons) o += fmt::format("- **Reason:** {}\n", md(r));
  o += fmt::format("- **Release started:** {}\n", or_unknown(i.release_started));
  if (!i.first_failure.empty()) o += fmt::format("- **First failing observation:** {}\n", i.first_failure);
  o += fmt::format("- **Detected (tripped):** {}\n", i.tripped);
  o += fmt::format("- **Time to detect:** {} from the release start; {} from the first failing observation\n\n",
                   ms_or(i.ttd_ms), ms_or(i.ttd_first_failure_ms));

  o += fmt::format("{}# Response and recovery\n\n", hh);
  if (i.actions.empty()) {
    o += "The guard took no action.\n\n";
  } else {
    o += "| # | step | intent | outcome | evidence | at | after the trip |\n|---|---|---|---|---|---|---|\n";
    int n = 0;
    for (const auto& a : i.actions)
      o += fmt::format("| {} | {} | {} | {}{} | {} | {} | {} |\n", ++n, a.step, md(a.intent), md(a.outcome),
                       a.detail.empty() ? "" : ": " + md(a.detail), md(a.evidence.empty() ? "—" : a.evidence),
                       a.outcome_time.empty() ? a.intent_time : a.outcome_time,
                       a.after_trip_ms ? human_ms(*a.after_trip_ms) : "—");
    o += "\n";
  }
  o += fmt::format("- **Users recovered:** {}\n", i.recovered.empty() ? "not in this journal" : i.recovered);
  o += fmt::format("- **Time to mitigate:** {}\n\n", ms_or(i.ttm_ms, "not mitigated"));

  o += fmt::format("{}# Timeline\n\n| time | seq | what |\n|---|---|---|\n", hh);
  for (const auto& e : i.timeline)
    o += fmt::format("| {} | {} | {} |\n", e.time, e.seq ? std::to_string(e.seq) : "evidence", md(e.text));
  o += "\n";

  o += fmt::format("{}# Proof\n\n", hh);
  o += fmt::format(
      "This review was written from `{}` alone: {} record(s), {}{}. The incident's last record is seq {} "
      "(hash `{}`). Check that the journal still holds it: `deployguard journal verify {} --head {}:{}`.\n\n",
      m.journal, m.records, proof_line(m), m.chain.empty() ? "" : " (chain: " + m.chain + ")", i.last_seq, i.last_hash,
      m.journal, m.head_seq, m.head_hash);

  o += fmt::format(
      "{}# Contributing factors\n\n_To be written by the people involved (blameless: conditions, not culprits)._\n\n",
      hh);
  o += fmt::format("{}# Lessons learned\n\n_What went well, what went badly, where we got lucky._\n\n", hh);
  o += fmt::format("{}# Corrective actions\n\n| action | owner | due | ticket |\n|---|---|---|---|\n| | | | |\n\n", hh);
}

// ---- HTML ----

const char* color_of(const std::string& category) {
  if (category == "signal") return "#d97706";
  if (category == "trip" || category == "failure") return "#b91c1c";
  if (category == "alarm") return "#be123c";
  if (category == "action") return "#1d4ed8";
  if (category == "verification") return "#6d28d9";
  if (category == "recovery") return "#15803d";
  if (category == "release") return "#374151";
  return "#6b7280";
}

// The timeline as an SVG: one lane per kind of entry, time left to right.
std::string svg_timeline(const Incident& i) {
  std::vector<const TimelineEntry*> es;
  for (const auto& e : i.timeline)
    if (e.at) es.push_back(&e);
  if (es.empty()) return "<p>No timed records.</p>\n";
  TimePoint t0 = *es.front()->at, t1 = t0;
  for (const auto* e : es) t0 = std::min(t0, *e->at), t1 = std::max(t1, *e->at);
  double span = std::max<double>(1, std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count());
  const std::vector<std::pair<std::string, std::vector<std::string>>> lanes = {
      {"release", {"release"}},
      {"signals", {"signal"}},
      {"trip / alarm", {"trip", "alarm", "people"}},
      {"actions", {"action"}},
      {"verification", {"verification"}},
      {"recovery", {"recovery", "failure"}},
      {"incident", {"incident", "other"}}};
  const int left = 120, width = 940, right = 50, lane_h = 34, top = 24;
  const int plot = width - left - right;
  const int height = top + lane_h * static_cast<int>(lanes.size()) + 36;
  auto x_of = [&](TimePoint t) {
    return left + static_cast<int>(plot * std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count() / span);
  };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"100%\" role=\"img\" "
      "aria-label=\"Timeline of {}\">\n",
      width, height, h(i.key));
  // The impact: from the first failure to users recovered (or the last record).
  if (!i.first_failure.empty())
    if (auto a = text::parse_rfc3339(i.first_failure)) {
      TimePoint b = t1;
      if (auto r = text::parse_rfc3339(i.recovered)) b = *r;
      int xa = std::max(left, x_of(*a)), xb = std::max(xa + 2, x_of(b));
      s += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fecaca\" opacity=\"0.5\">"
          "<title>users affected: {}</title></rect>\n",
          xa, top - 6, xb - xa, lane_h * static_cast<int>(lanes.size()), h(duration_of(i)));
    }
  for (size_t l = 0; l < lanes.size(); ++l) {
    int y = top + lane_h * static_cast<int>(l) + lane_h / 2;
    s += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"12\" fill=\"#111827\">{}</text>\n", y + 4, h(lanes[l].first));
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d1d5db\" stroke-width=\"1\"/>\n", left, y,
                     width - right, y);
    int n = 0;
    for (const auto* e : es) {
      if (std::find(lanes[l].second.begin(), lanes[l].second.end(), e->category) == lanes[l].second.end()) continue;
      int x = x_of(*e->at);
      std::string title = h(fmt::format("{} {}", e->time, e->text));
      if (e->category == "trip" || e->category == "alarm")
        s += fmt::format("<polygon points=\"{},{} {},{} {},{}\" fill=\"{}\"><title>{}</title></polygon>\n", x, y - 8,
                         x - 7, y + 6, x + 7, y + 6, color_of(e->category), title);
      else if (e->category == "action")
        s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"><title>{}</title></rect>\n",
                         x - 5, y - 5, color_of(e->category), title);
      else
        s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"><title>{}</title></circle>\n", x, y,
                         color_of(e->category), title);
      // Labels for the few entries people look for; alternating above and below.
      std::string label;
      if (e->category == "trip")
        label = "trip";
      else if (e->category == "alarm")
        label = "alarm";
      else if (e->category == "recovery")
        label = "recovered";
      else if (e->category == "failure")
        label = "failed";
      else if (e->kind == "action_outcome")
        label = "step " + e->text.substr(5, e->text.find(' ', 5) - 5);
      if (!label.empty())
        s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#111827\">{}</text>\n",
                         x, n++ % 2 ? y + 17 : y - 10, h(label));
    }
  }
  // The axis: seconds (or minutes) from the first entry.
  int axis_y = top + lane_h * static_cast<int>(lanes.size()) + 4;
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#111827\" stroke-width=\"1\"/>\n", left,
                   axis_y, width - right, axis_y);
  for (int k = 0; k <= 4; ++k) {
    int x = left + plot * k / 4;
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#374151\">+{}</text>\n", x,
                     axis_y + 16, h(human_ms(static_cast<long long>(span * k / 4))));
  }
  s += "</svg>\n";
  s += fmt::format(
      "<p class=\"legend\">Time runs from {} (left). Triangles: trip or alarm; squares: actions; circles: "
      "signals, verifications, recovery, incident events; the shaded band: users affected. Hover for details.</p>\n",
      h(es.front()->time));
  return s;
}

void html_incident(std::string& o, const Model& m, const Incident& i) {
  o += fmt::format("<section class=\"incident\" id=\"{}\">\n<h2>{}</h2>\n", h(i.key), h(i.title));
  o += "<table class=\"facts\">\n";
  auto row = [&](std::string_view k, const std::string& v) {
    o += fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", h(k), h(v));
  };
  row("Incident", i.key);
  row("Service", fmt::format("{} ({})", or_unknown(i.service), or_unknown(i.environment)));
  row("Release", or_unknown(i.release));
  if (!i.policy.empty()) row("Policy", i.policy);
  row("Outcome", state_words(i));
  row("Time to detect", fmt::format("{} from the release start; {} from the first failing observation", ms_or(i.ttd_ms),
                                    ms_or(i.ttd_first_failure_ms)));
  row("Time to mitigate", i.ttm_ms ? ms_or(i.ttm_ms) + " from the release start" : "not mitigated");
  row("Times from", i.times_from);
  o += "</table>\n";

  o += fmt::format("<h3>Summary</h3>\n<p>{}</p>\n", h(summary_of(i)));

  o += "<h3>Impact</h3>\n<ul>\n";
  o += fmt::format("<li><strong>Who was affected:</strong> {}</li>\n", h(or_unknown(i.scope)));
  if (!i.segments.empty())
    o += fmt::format("<li><strong>Segment targeted by the mitigation:</strong> {}</li>\n",
                     h(text::join(i.segments, "; ")));
  o += fmt::format("<li><strong>What they experienced:</strong> {}</li>\n", h(or_unknown(i.experience)));
  o += fmt::format("<li><strong>Every time or sometimes:</strong> {}</li>\n", h(frequency_of(i)));
  for (const auto& s : other_signals(i)) o += fmt::format("<li><strong>Other signals:</strong> {}</li>\n", h(s));
  o += fmt::format("<li><strong>For how long:</strong> {}</li>\n</ul>\n", h(duration_of(i)));

  o += "<h3>Detection</h3>\n<ul>\n";
  o += fmt::format("<li><strong>Signal:</strong> {}</li>\n",
                   h(i.signal == "alarm" ? "the alarm, raised by " + or_unknown(i.raised_by) : or_unknown(i.signal)));
  for (const auto& r : i.reasons) o += fmt::format("<li><strong>Reason:</strong> {}</li>\n", h(r));
  o += fmt::format("<li><strong>Release started:</strong> {}</li>\n", h(or_unknown(i.release_started)));
  if (!i.first_failure.empty())
    o += fmt::format("<li><strong>First failing observation:</strong> {}</li>\n", h(i.first_failure));
  o += fmt::format("<li><strong>Detected (tripped):</strong> {}</li>\n", h(i.tripped));
  o += fmt::format(
      "<li><strong>Time to detect:</strong> {} from the release start; {} from the first failing "
      "observation</li>\n</ul>\n",
      h(ms_or(i.ttd_ms)), h(ms_or(i.ttd_first_failure_ms)));

  o += "<h3>Response and recovery</h3>\n";
  if (i.actions.empty()) {
    o += "<p>The guard took no action.</p>\n";
  } else {
    o += "<table class=\"actions\">\n<thead><tr><th>#</th><th>step</th><th>intent</th><th>outcome</th><th>evidence</th>"
         "<th>at</th><th>after the trip</th></tr></thead>\n<tbody>\n";
    int n = 0;
    for (const auto& a : i.actions)
      o += fmt::format(
          "<tr class=\"action\"><td>{}</td><td>{}</td><td>{}</td><td "
          "class=\"o-{}\">{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
          ++n, a.step, h(a.intent), h(a.outcome.substr(0, a.outcome.find(' '))), h(a.outcome),
          a.detail.empty() ? "" : ": " + h(a.detail), h(a.evidence.empty() ? "—" : a.evidence),
          h(a.outcome_time.empty() ? a.intent_time : a.outcome_time),
          h(a.after_trip_ms ? human_ms(*a.after_trip_ms) : "—"));
    o += "</tbody>\n</table>\n";
  }
  o += fmt::format("<p><strong>Users recovered:</strong> {}. <strong>Time to mitigate:</strong> {}.</p>\n",
                   h(i.recovered.empty() ? "not in this journal" : i.recovered), h(ms_or(i.ttm_ms, "not mitigated")));

  o += "<h3>Timeline</h3>\n<figure>\n" + svg_timeline(i) + "</figure>\n";
  o += "<table class=\"timeline\">\n<thead><tr><th>time</th><th>seq</th><th>what</th></tr></thead>\n<tbody>\n";
  for (const auto& e : i.timeline)
    o += fmt::format("<tr class=\"c-{}\"><td>{}</td><td>{}</td><td>{}</td></tr>\n", h(e.category), h(e.time),
                     e.seq ? std::to_string(e.seq) : "evidence", h(e.text));
  o += "</tbody>\n</table>\n";

  o += "<h3>Proof</h3>\n";
  o += fmt::format(
      "<p>Written from <code>{}</code> alone: {} record(s), {}{}. The incident's last record is seq {} (hash "
      "<code>{}</code>). Check that the journal still holds it: <code>deployguard journal verify {} --head "
      "{}:{}</code>.</p>\n",
      h(m.journal), m.records, h(proof_line(m)), h(m.chain.empty() ? "" : " (chain: " + m.chain + ")"), i.last_seq,
      h(i.last_hash), h(m.journal), m.head_seq, h(m.head_hash));
  o += "<h3>Contributing factors</h3>\n<p class=\"todo\">To be written by the people involved (blameless: conditions, "
       "not culprits).</p>\n";
  o += "<h3>Lessons learned</h3>\n<p class=\"todo\">What went well, what went badly, where we got lucky.</p>\n";
  o += "<h3>Corrective actions</h3>\n<table class=\"corrective\">\n<thead><tr><th>action</th><th>owner</th><th>due</th>"
       "<th>ticket</th></tr></thead>\n<tbody><tr><td>&nbsp;</td><td>&nbsp;</td><td>&nbsp;</td><td>&nbsp;</td></tr></"
       "tbody>\n</table>\n";
  o += "</section>\n";
}

}  // namespace

const std::string& html_style() {
  static const std::string kStyle = R"CSS(
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 0 auto; max-width: 60rem; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #111827; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
table { border-collapse: collapse; width: 100%; margin: 0.4rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d1d5db; padding: 0.25rem 0.4rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
thead th { background: #f3f4f6; white-space: nowrap; }
table.actions td:nth-child(-n+2), table.timeline td:nth-child(2) { white-space: nowrap; }
table.facts th { width: 11rem; background: #f9fafb; }
code { font-size: 0.85rem; overflow-wrap: anywhere; }
.o-failed, .o-conflict, .c-failure td, .c-trip td { color: #b91c1c; }
.o-applied, .c-recovery td { color: #15803d; }
.todo { color: #6b7280; font-style: italic; min-height: 3rem; border: 1px dashed #d1d5db; padding: 0.5rem; }
.legend, .note { color: #4b5563; font-size: 0.85rem; }
figure { margin: 0.5rem 0; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  section.incident { break-before: page; }
  section.incident:first-of-type { break-before: auto; }
  table, figure, tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
)CSS";
  return kStyle;
}

std::string render_markdown(const Model& m) {
  std::string o;
  bool one = m.incidents.size() == 1;
  if (!one) {
    o += fmt::format("# Post-incident review: {} incident(s)\n\n", m.incidents.size());
    o += "A draft written by deployguard from the journal alone. Blameless: it says what happened and when.\n\n";
    if (m.incidents.empty()) o += "No incident in the journal for this selection.\n\n";
  } else {
    o += "<!-- A draft written by deployguard from the journal alone. Blameless: what happened and when. -->\n";
  }
  for (const auto& i : m.incidents) md_incident(o, m, i, one ? 1 : 2);
  if (m.incidents.empty()) o += fmt::format("Journal `{}`: {} record(s), {}.\n", m.journal, m.records, proof_line(m));
  return secrets::redact(o);
}

std::string render_html(const Model& m) {
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  std::string title = m.incidents.size() == 1 ? "Post-incident review: " + m.incidents.front().title
                                              : fmt::format("Post-incident review: {} incident(s)", m.incidents.size());
  o += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", h(title), html_style());
  o += fmt::format(
      "<header><h1>{}</h1>\n<p class=\"note\">A draft written by deployguard from the journal alone "
      "(<code>{}</code>, {}). Blameless: it says what happened and when; the last three sections are for "
      "people to write.</p></header>\n<main>\n",
      h(title), h(m.journal), h(proof_line(m)));
  if (m.incidents.empty()) o += "<p>No incident in the journal for this selection.</p>\n";
  for (const auto& i : m.incidents) html_incident(o, m, i);
  o += "</main>\n</body>\n</html>\n";
  return secrets::redact(o);
}

}  // namespace dg::review
