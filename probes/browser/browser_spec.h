#pragma once
/// Typed, validated definition of a `browser` probe: a page loaded in
/// headless Chromium, optional steps, then expectations waited for until
/// the probe's timeout. The config decoder builds it; probe code trusts it.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/regex.h"

namespace dg {

/// How the shared browser process is launched and kept.
struct BrowserOptions {
  std::string chromium;  ///< program; empty: /usr/lib/chromium/chromium, else `chromium` on PATH
  /// The browser's whole process tree (its process group, summed over /proc
  /// as proportional set size) above this after a run: it is restarted
  /// before the next one. 0: no bound.
  long long max_memory_bytes = 1024ll << 20;
  Duration launch_timeout{15'000};
  std::vector<std::string> extra_args;  ///< appended to the built-in flags
  bool operator==(const BrowserOptions&) const = default;
};

struct BrowserStep {
  enum class Kind { Click, Type, Wait, WaitFor };
  Kind kind = Kind::Wait;
  std::string selector;  ///< click, type, wait_for
  std::string text;      ///< type (secrets already resolved)
  Duration wait{0};      ///< wait
};

struct BrowserExpect {
  std::vector<std::string> selector_present;
  std::vector<std::string> selector_visible;
  std::vector<std::string> js_true;  ///< expressions that must become truthy
  bool no_uncaught_exceptions = true;
  /// A console message at error level matching this fails the run (unset: not checked).
  std::string console_error_regex_text;
  std::optional<Regex> console_error_regex;
  /// A script or stylesheet answered ≥ 400 or not at all fails the run.
  bool no_failed_assets = true;
  std::optional<Duration> max_load;  ///< navigation start to the load event
};

struct BrowserProbeSpec {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< secrets already resolved
  std::vector<std::pair<std::string, std::string>> cookies;  ///< name, value; set for the URL
  std::vector<BrowserStep> steps;
  BrowserExpect expect;
  int viewport_width = 1280;
  int viewport_height = 800;
  /// Where screenshots and console/network logs of failed runs go (beside
  /// the journal); empty: none are kept.
  std::string artifacts_dir;
  size_t max_screenshot_bytes = 4u << 20;
  BrowserOptions browser;
};

}  // namespace dg
