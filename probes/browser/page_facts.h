#pragma once
/// What one page load showed, as data: the browser run collects it, and
/// evaluate_browser() judges it with no I/O (the same function for run()
/// and start(), and for table tests).
#include <optional>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/observation.h"
#include "probes/browser/browser_spec.h"

namespace dg {

struct FailedRequest {
  std::string method = "GET";
  std::string url;
  std::string type;  ///< "Script" | "Stylesheet" | …, as the browser names it
  int status = 0;    ///< 0: no response
  std::string error; ///< the network error when there was no response
};

struct PageFacts {
  /// The browser could not run the page (could not start, crashed, stopped
  /// answering): the outcome is error, whatever else is here.
  std::optional<std::string> browser_error;
  /// The page did not answer at all (refused, DNS, timeout before a
  /// response): error too, as for an HTTP probe.
  std::optional<std::string> navigation_error;
  int document_status = 0;  ///< 0: no response seen
  std::optional<Duration> load_time;  ///< navigation start to the load event; unset: never fired
  Duration waited{0};                 ///< navigation start to the last look at the expectations
  std::optional<std::string> step_failure;
  /// Per expectation of the spec, in its order, at the last look.
  std::vector<bool> present;
  std::vector<int> visible;  ///< 0 no element, 1 present but not visible, 2 visible
  std::vector<std::string> js;  ///< "" true; "false"; or "threw: …"
  std::vector<std::string> exceptions;      ///< "TypeError: x is undefined at editor.js:42"
  std::vector<std::string> console_errors;  ///< text of console messages at error level
  std::vector<FailedRequest> failed_requests;  ///< scripts and stylesheets only
};

/// Pure: the observation of one run. Failed lists every failed expectation
/// ("selector #editor not visible after 5 s; uncaught TypeError: … at
/// editor.js:42; GET /static/editor-bootstrap.js 404"); Error when the
/// browser or the page gave no answer to judge.
Observation evaluate_browser(const std::string& probe, const BrowserProbeSpec& spec, const PageFacts& facts,
                             TimePoint at);

/// "5 s", "4.5 s", "120 ms".
std::string seconds_text(Duration d);

/// Width and height from a PNG's IHDR; nullopt when `png` is not a PNG.
std::optional<std::pair<int, int>> png_size(std::string_view png);

}  // namespace dg
