#pragma once
/// The `browser` probe: a page in headless Chromium (browser_spec.h). run()
/// for verify drives a private loop on the calling thread; start() runs on
/// the watcher's loop. Both share one warm browser per loop among the
/// browser probes with the same BrowserOptions, and judge with the same
/// evaluate_browser().
#include <memory>
#include <string>

#include "probes/browser/browser_spec.h"
#include "probes/probe.h"

namespace dg {

std::unique_ptr<Probe> make_browser_probe(std::string name, Duration timeout, BrowserProbeSpec spec);

}  // namespace dg

namespace dg {
/// Registers the `browser` type with its config decoder (browser_config.cpp).
void register_browser_probe(ProbeRegistry& registry);
}  // namespace dg
