// The browser probe's config: its keys, decoded into BrowserProbeSpec, and
// its registration beside the factory.
#include <fmt/format.h>

#include "agent/config/reader.h"
#include "probes/browser/browser_probe.h"

namespace dg {
namespace {

std::optional<Regex> regex_key(ConfigReader& r, std::string_view key, std::string& text) {
  auto v = r.str(key);
  if (!v) return std::nullopt;
  auto re = Regex::compile(*v);
  if (!re) {
    r.error(key, fmt::format("invalid regex /{}/: {}", *v, re.error().message));
    return std::nullopt;
  }
  text = *v;
  return *re;
}

void decode_expect(ConfigReader& r, BrowserExpect& ex) {
  if (auto v = r.strings("selector_present")) ex.selector_present = *v;
  if (auto v = r.strings("selector_visible")) ex.selector_visible = *v;
  if (auto v = r.strings("js_true")) ex.js_true = *v;
  if (auto v = r.boolean("no_uncaught_exceptions")) ex.no_uncaught_exceptions = *v;
  ex.console_error_regex = regex_key(r, "no_console_error_matching", ex.console_error_regex_text);
  if (auto v = r.boolean("no_failed_assets")) ex.no_failed_assets = *v;
  if (auto v = r.duration("max_load")) ex.max_load = *v;
}

void decode_step(ConfigReader& r, BrowserStep& s) {
  static const std::vector<std::string> actions{"click", "type", "wait", "wait_for"};
  auto a = r.choice("action", actions);
  if (!a) {
    if (!r.has("action")) r.missing("action", "one of 'click', 'type', 'wait', 'wait_for'");
    r.accept_all();
    return;
  }
  s.kind = std::array{BrowserStep::Kind::Click, BrowserStep::Kind::Type, BrowserStep::Kind::Wait,
                      BrowserStep::Kind::WaitFor}[*a];
  if (s.kind == BrowserStep::Kind::Wait) {
    if (auto d = r.duration("duration", Duration{1}, true)) s.wait = *d;
    return;
  }
  if (auto v = r.str("selector", true, "a CSS selector")) s.selector = *v;
  if (s.kind == BrowserStep::Kind::Type)
    if (auto v = r.secret_str("text", true, "the text to type")) s.text = *v;
}

void decode_browser_probe(ConfigReader& r, ProbeSpec& spec) {
  BrowserProbeSpec b;
  if (auto v = r.url("url", "an http:// or https:// URL", "http://127.0.0.1:8080/edit")) b.url = *v;
  b.headers = r.string_map("headers", true);
  b.cookies = r.string_map("cookies", false);
  if (auto v = r.integer("viewport_width", 200, 8000)) b.viewport_width = static_cast<int>(*v);
  if (auto v = r.integer("viewport_height", 200, 8000)) b.viewport_height = static_cast<int>(*v);
  if (auto v = r.integer("max_screenshot_kib", 16, 64 * 1024)) b.max_screenshot_bytes = static_cast<size_t>(*v) * 1024;
  if (auto v = r.path("chromium")) b.browser.chromium = *v;
  if (auto v = r.integer("max_browser_memory_mib", 0, 1 << 20)) b.browser.max_memory_bytes = *v << 20;
  if (auto v = r.strings("chromium_args", false, false)) b.browser.extra_args = *v;
  b.artifacts_dir = r.context().artifacts_dir;
  if (auto v = r.path("artifacts_dir")) b.artifacts_dir = *v;
  r.each_table("steps", "a step table ([[probes.NAME.steps]])", [&](ConfigReader& sr, size_t) {
    BrowserStep s;
    decode_step(sr, s);
    b.steps.push_back(std::move(s));
  });
  r.with_table("expect", [&](ConfigReader& er) { decode_expect(er, b.expect); });
  spec.kind = std::move(b);
}

}  // namespace

void register_browser_probe(ProbeRegistry& registry) {
  registry.add(
      "browser",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_browser_probe(spec.name, spec.timeout, spec.kind.as<BrowserProbeSpec>());
      },
      decode_browser_probe);
}

}  // namespace dg
