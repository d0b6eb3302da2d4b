#pragma once
/// Browser: one warm headless Chromium driven over the DevTools pipe on an
/// Asio loop, shared by the browser probes that run on that loop. Launched on
/// first use; relaunched when it exited, when its DevTools pipe closed, or
/// when after a run its whole process tree (its process group, summed over
/// /proc) uses more than `max_memory_bytes`. Runs never share state: each gets its own
/// browser context (PageRun).
///
/// Threads: construct, call and destroy on the loop's thread (or while the
/// loop is not running); callbacks on the loop's thread, never inside a call.
/// The destructor kills the process group; the loop reaps it.
#include <functional>
#include <memory>
#include <string>

#include "agent/core/error.h"
#include "probes/browser/browser_spec.h"
#include "probes/browser/cdp.h"

namespace boost::asio {
class io_context;
}

namespace dg {

class Browser {
 public:
  Browser(boost::asio::io_context& loop, BrowserOptions options);
  ~Browser();
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  /// A run begins: `ready` gets the connection once the browser answers
  /// (launching it first if needed), or the reason it could not start.
  /// Every acquire() is paired with one release(), whatever `ready` got.
  void acquire(std::function<void(Result<std::shared_ptr<cdp::CdpPipe>>)> ready);
  /// Starts the browser now if it is not running (the next acquire()
  /// waits for its answer).
  void prewarm();
  /// A run has its result (its context may still be being disposed): with
  /// no run left, a tree above the bound is stopped (the next acquire()
  /// launches a new one).
  void release();

  /// Events of one DevTools session (or target id) go to `handler` until
  /// unsubscribe(); a crash of the browser arrives as "Browser.closed".
  void subscribe(const std::string& key, cdp::EventHandler handler);
  void unsubscribe(const std::string& key);

  const BrowserOptions& options() const;
  boost::asio::io_context& loop();
  /// The tree's memory now, as process_group_pss (0 when not running).
  long long tree_memory_bytes() const;
  int pgid() const;    ///< 0 when not running
  int launches() const;  ///< how many times a browser was started

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Sum of the resident set of every process in process group `pgid`: each
/// shared page (the browser's code, mapped by its ~10 processes) counted
/// once per process, so about 3 × what the tree really holds.
long long process_group_rss(int pgid);
/// Sum of the proportional set size (smaps_rollup's Pss: a page shared by n
/// processes counts 1/n in each) of the group: what the tree holds in RAM.
long long process_group_pss(int pgid);
/// CPU time (user + system) used so far by every process in the group, in
/// clock ticks converted to seconds; for the benchmark.
double process_group_cpu_seconds(int pgid);

/// The browser probes' shared browser for `loop` and these options: one per
/// loop while some probe holds it.
std::shared_ptr<Browser> shared_browser(boost::asio::io_context& loop, const BrowserOptions& options);

}  // namespace dg
