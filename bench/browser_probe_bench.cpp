// Browser probe cost with a warm browser: runs per CPU-minute of the whole
// browser process tree (plus this process, the agent's side), latency
// p50/p95, peak memory of the tree (proportional set size, and the plain RSS
// sum for comparison). Usage: browser_probe_bench URL RUNS [selector js]
// (scripts/bench.sh runs it against the demo wiki's editor page).
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "probes/browser/browser.h"
#include "probes/browser/page_run.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s URL RUNS\n", argv[0]);
    return 2;
  }
  using namespace dg;
  BrowserProbeSpec spec;
  spec.url = argv[1];
  int runs = std::atoi(argv[2]);
  spec.expect.selector_visible = {"#editor"};
  spec.expect.js_true = {"window.editor && window.editor.initialized"};
  auto shared = std::make_shared<const BrowserProbeSpec>(spec);
  boost::asio::io_context loop;
  auto browser = std::make_shared<Browser>(loop, BrowserOptions{.max_memory_bytes = 0});
  auto once = [&] {
    std::optional<Observation> got;
    loop.restart();
    start_page_run(browser, "bench", shared, Duration{5000}, {}, [&](Observation o) { got = std::move(o); });
    while (!got && loop.run_one() > 0) {
    }
    for (int i = 0; i < 64 && loop.poll_one() > 0; ++i) {
    }
    return *got;
  };
  // Warm-up: the launch and the first page are not what a warm probe costs.
  for (int i = 0; i < 3; ++i) {
    auto o = once();
    if (o.outcome != Outcome::Passed) {
      std::fprintf(stderr, "warm-up run not passed: %s\n", o.detail.c_str());
      return 1;
    }
  }
  auto self_cpu = [] {
    rusage r{};
    ::getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  int pgid = browser->pgid();
  double tree0 = process_group_cpu_seconds(pgid), self0 = self_cpu();
  auto wall0 = std::chrono::steady_clock::now();
  std::vector<double> lat;
  long long peak_pss = 0, peak_rss = 0;
  int passed = 0;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto o = once();
    lat.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    passed += o.outcome == Outcome::Passed;
    if (i % 10 == 0 || i == runs - 1) {  // memory sampled (smaps_rollup costs CPU itself)
      peak_pss = std::max(peak_pss, process_group_pss(pgid));
      peak_rss = std::max(peak_rss, process_group_rss(pgid));
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  double tree = process_group_cpu_seconds(pgid) - tree0, self = self_cpu() - self0;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[static_cast<size_t>(p * (lat.size() - 1))]; };
  std::printf("runs=%d passed=%d launches=%d wall_s=%.1f\n", runs, passed, browser->launches(), wall);
  std::printf("cpu_s tree=%.2f agent=%.2f per_run_ms=%.1f runs_per_cpu_minute=%.1f\n", tree, self,
              1000 * (tree + self) / runs, 60.0 * runs / (tree + self));
  std::printf("latency_ms p50=%.1f p95=%.1f max=%.1f\n", pct(0.5), pct(0.95), lat.back());
  std::printf("tree_memory_mib peak_pss=%lld peak_rss_sum=%lld\n", peak_pss >> 20, peak_rss >> 20);
  return passed == runs ? 0 : 1;
}
