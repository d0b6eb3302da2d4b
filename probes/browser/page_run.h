#pragma once
/// One run of a browser probe on its Browser's loop: a fresh browser context
/// (no cookie, cache or storage of another run or tenant), the page with the
/// spec's headers and cookies, the steps, then every expectation waited for
/// until the probe's timeout; judged by evaluate_browser(). A failed run's
/// screenshot and console/network log are saved (artifacts.h) and referenced
/// from the observation. The context is disposed at the end, whatever
/// happened.
#include <functional>
#include <memory>
#include <string>

#include "agent/core/clock.h"
#include "agent/core/observation.h"
#include "probes/browser/browser.h"
#include "probes/browser/browser_spec.h"

namespace dg {

/// `done` runs once on the browser's loop, never inside this call: the page
/// gets `timeout` from its navigation (+ the screenshot's own bound of 2 s on
/// a failed run); opening its tab is bounded by 5 s or `timeout` (past it:
/// error), and a browser that has to start first by
/// BrowserOptions::launch_timeout.
void start_page_run(std::shared_ptr<Browser> browser, std::string probe, std::shared_ptr<const BrowserProbeSpec> spec,
                    Duration timeout, TimePoint at, std::function<void(Observation)> done);

}  // namespace dg
