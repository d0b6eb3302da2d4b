#include "probes/browser/page_facts.h"

#include <fmt/format.h>

#include <cstring>

#include "agent/core/text.h"

namespace dg {
namespace {

// Same-origin URLs as their path ("GET /static/editor.js 404"): what a
// responder recognises; others whole.
std::string short_url(const std::string& url, const std::string& page) {
  auto origin = [](const std::string& u) -> std::string {
    auto scheme = u.find("://");
    if (scheme == std::string::npos) return "";
    auto slash = u.find('/', scheme + 3);
    return slash == std::string::npos ? u : u.substr(0, slash);
  };
  std::string o = origin(page);
  if (!o.empty() && url.size() > o.size() && url.compare(0, o.size(), o) == 0 && url[o.size()] == '/')
    return url.substr(o.size());
  return url;
}

}  // namespace

std::string seconds_text(Duration d) {
  if (d < std::chrono::seconds(1)) return fmt::format("{} ms", d.count());
  double s = std::chrono::duration<double>(d).count();
  std::string t = fmt::format("{:.1f}", s);
  if (t.ends_with(".0")) t.resize(t.size() - 2);
  return t + " s";
}

Observation evaluate_browser(const std::string& probe, const BrowserProbeSpec& spec, const PageFacts& f, TimePoint at) {
  Observation obs{.signal = probe, .at = at};
  obs.latency = f.load_time.value_or(f.waited);
  if (f.browser_error) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("browser: {}", *f.browser_error);
    return obs;
  }
  if (f.navigation_error) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("GET {}: {}", spec.url, *f.navigation_error);
    return obs;
  }
  const BrowserExpect& ex = spec.expect;
  std::vector<std::string> failures;
  std::string after = seconds_text(f.waited);
  if (f.document_status >= 400) failures.push_back(fmt::format("page answered {}", f.document_status));
  if (f.step_failure) failures.push_back(*f.step_failure);
  if (!f.load_time) failures.push_back(fmt::format("page did not finish loading after {}", after));
  else if (ex.max_load && *f.load_time > *ex.max_load)
    failures.push_back(fmt::format("page load took {} (max_load {})", seconds_text(*f.load_time), seconds_text(*ex.max_load)));
  for (size_t i = 0; i < ex.selector_present.size(); ++i)
    if (i >= f.present.size() || !f.present[i])
      failures.push_back(fmt::format("selector {} not present after {}", ex.selector_present[i], after));
  for (size_t i = 0; i < ex.selector_visible.size(); ++i) {
    int v = i < f.visible.size() ? f.visible[i] : 0;
    if (v == 2) continue;
    failures.push_back(fmt::format("selector {} not visible after {}{}", ex.selector_visible[i], after,
                                   v == 0 ? " (no element matches)" : ""));
  }
  for (size_t i = 0; i < ex.js_true.size(); ++i) {
    std::string r = i < f.js.size() ? f.js[i] : "not evaluated";
    if (r.empty()) continue;
    failures.push_back(fmt::format("`{}` {} after {}", text::excerpt(ex.js_true[i], 120),
                                   r == "false" ? "not true" : text::excerpt(r, 200), after));
  }
  if (ex.no_uncaught_exceptions)
    for (const auto& e : f.exceptions) failures.push_back("uncaught " + text::excerpt(e, 240));
  if (ex.console_error_regex)
    for (const auto& c : f.console_errors) {
      auto m = ex.console_error_regex->search(c);
      if (!m) {
        obs.outcome = Outcome::Error;  // the expectation itself could not be evaluated
        obs.detail = m.error().message;
        return obs;
      }
      if (*m) failures.push_back("console error: " + text::excerpt(c, 240));
    }
  if (ex.no_failed_assets)
    for (const auto& r : f.failed_requests)
      failures.push_back(r.status > 0 ? fmt::format("{} {} {}", r.method, short_url(r.url, spec.url), r.status)
                                      : fmt::format("{} {} failed ({})", r.method, short_url(r.url, spec.url), r.error));
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("status {}, loaded in {}, every expectation met", f.document_status,
                             seconds_text(f.load_time.value_or(f.waited)));
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = text::join(failures, "; ");
  }
  return obs;
}

std::optional<std::pair<int, int>> png_size(std::string_view png) {
  static constexpr unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (png.size() < 24 || std::memcmp(png.data(), kSig, 8) != 0 || png.substr(12, 4) != "IHDR") return std::nullopt;
  auto be32 = [&](size_t at) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(png[at + i])); };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  };
  return std::pair<int, int>{static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

}  // namespace dg
