#include "probes/browser/browser_probe.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>
#include <optional>

#include "probes/browser/browser.h"
#include "probes/browser/page_run.h"

namespace dg {
namespace {

namespace asio = boost::asio;

/// A loop of its own for the blocking form, with the browser that lives on
/// it. One run at a time: run() holds the lock while it drives the loop, so
/// verify's browser probes on several threads queue for the one browser
/// instead of each starting a second.
struct BlockingHost {
  explicit BlockingHost(const BrowserOptions& o) : browser(std::make_unique<Browser>(loop, o)) {}
  ~BlockingHost() { browser.reset(); }  // before the loop it lives on
  std::mutex mu;
  asio::io_context loop{1};
  std::shared_ptr<Browser> browser;

  /// Launches the browser and waits (bounded by its launch timeout) for its
  /// first answer, driving the loop on this thread.
  void prewarm() {
    std::lock_guard lock(mu);
    loop.restart();
    bool ready = false;
    asio::post(loop, [&] {
      browser->acquire([&](Result<std::shared_ptr<cdp::CdpPipe>>) {
        ready = true;
        browser->release();
      });
    });
    while (!ready && loop.run_one() > 0) {
    }
  }

  Observation run(const std::string& probe, const std::shared_ptr<const BrowserProbeSpec>& spec, Duration timeout,
                  TimePoint at) {
    std::lock_guard lock(mu);
    std::optional<Observation> result;
    loop.restart();
    asio::post(loop, [&] {
      start_page_run(browser, probe, spec, timeout, at, [&result](Observation o) { result = std::move(o); });
    });
    // run_one, not run: the browser's pipe and exit waits stay pending
    // between runs, so run() would never return.
    while (!result && loop.run_one() > 0) {
    }
    if (!result) return Observation{.signal = probe, .at = at, .outcome = Outcome::Error, .detail = "browser: the run ended without a result"};
    // What the run left to finish (disposing its context) happens now, briefly.
    for (int i = 0; i < 64 && loop.poll_one() > 0; ++i) {
    }
    return std::move(*result);
  }
};

std::shared_ptr<BlockingHost> shared_host(const BrowserOptions& options) {
  static std::mutex mu;
  static std::vector<std::pair<BrowserOptions, std::weak_ptr<BlockingHost>>> hosts;
  std::lock_guard lock(mu);
  std::erase_if(hosts, [](const auto& h) { return h.second.expired(); });
  for (auto& [o, w] : hosts)
    if (o == options)
      if (auto h = w.lock()) return h;
  auto h = std::make_shared<BlockingHost>(options);
  hosts.emplace_back(options, h);
  return h;
}

class BrowserProbe final : public Probe {
 public:
  BrowserProbe(std::string name, Duration timeout, BrowserProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::make_shared<const BrowserProbeSpec>(std::move(spec))) {}

  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    {
      std::lock_guard lock(mu_);
      if (!host_) host_ = shared_host(spec_->browser);
    }
    return host_->run(name_, spec_, timeout_, at);
  }

  void prepare() override {
    {
      std::lock_guard lock(mu_);
      if (!host_) host_ = shared_host(spec_->browser);
    }
    host_->prewarm();
  }

  void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) override {
    if (!browser_ || &browser_->loop() != &io.loop) browser_ = shared_browser(io.loop, spec_->browser);
    start_page_run(browser_, name_, spec_, timeout_, clock.now(), std::move(done));
  }

 private:
  std::string name_;
  Duration timeout_;
  std::shared_ptr<const BrowserProbeSpec> spec_;
  std::mutex mu_;
  std::shared_ptr<BlockingHost> host_;
  std::shared_ptr<Browser> browser_;  // the loop's; used on its thread only
};

}  // namespace

std::unique_ptr<Probe> make_browser_probe(std::string name, Duration timeout, BrowserProbeSpec spec) {
  return std::make_unique<BrowserProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
