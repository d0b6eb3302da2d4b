// HTTP probes per CPU-second on the watcher's loop: K probes (status 200 and a
// body regex, as blackbox_exporter's http module in the benchmark anchor) kept
// in flight against one URL on one thread for a fixed time; each probe starts
// again as soon as it is done. Prints one line:
//
//   deployguard c=64 keepalive=0 probes/s=... cpu_s=... probes_per_cpu_s=... rss_mb=... ok=... fail=... err=...
//
// cpu_s is this process's user+sys (getrusage) over the measured window,
// rss_mb its peak RSS: one row per process, so the peak is the row's own
// (bench/http_probe_bench.sh runs the rows against a local nginx).
//
//   http_probe_bench --url URL [--negative URL] [--seconds 20] [--warmup 2]
//                    [--inflight 64] [--keepalive 0|1] [--regex 'editor-bootstrap\.js']
//                    [--stub URL]   nginx stub_status: adds tgt_conns_per_probe (new connections per probe)
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "agent/core/async_http.h"
#include "agent/core/clock.h"
#include "agent/core/http_client.h"
#include "probes/http_probe.h"

namespace {

using namespace dg;
using Steady = std::chrono::steady_clock;

struct Options {
  std::string url, negative, stub, regex = "editor-bootstrap\\.js";
  double seconds = 20, warmup = 2;
  int inflight = 64;
  bool keepalive = false;
};

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Connections nginx accepted so far (stub_status' third line: accepts handled
// requests), or -1. Read outside the measured CPU window.
long accepted(const std::string& stub) {
  if (stub.empty()) return -1;
  HttpRequest req;
  req.url = stub;
  auto r = http_perform(req);
  if (!r || r->status != 200) return -1;
  size_t line = 0, pos = 0;
  while (line < 2 && (pos = r->body.find('\n', pos)) != std::string::npos) ++line, ++pos;
  return line == 2 ? std::atol(r->body.c_str() + pos + 1) : -1;
}

ProbeSpec probe_spec(const Options& o, const std::string& url, bool keepalive) {
  HttpProbeSpec http;
  http.url = url;
  http.keepalive = keepalive;
  http.expect.body_regex_text = o.regex;
  http.expect.body_regex = Regex::compile(o.regex).value();
  return ProbeSpec{.name = "bench", .type = "http", .timeout = Duration{2000}, .kind = http};
}

// One probe run on a loop of its own: the sanity checks before a row.
Outcome once(const ProbeSpec& spec) {
  boost::asio::io_context loop;
  AsyncHttp http(loop);
  AsyncIo io{loop, http};
  SystemClock clock;
  auto probe = make_http_probe(spec);
  Outcome out = Outcome::Error;
  probe->start(io, clock, [&](Observation o) { out = o.outcome; });
  loop.run();
  return out;
}

int run_row(const Options& o, int inflight, bool keepalive) {
  ProbeSpec spec = probe_spec(o, o.url, keepalive);
  if (once(spec) != Outcome::Passed) {
    std::fprintf(stderr, "sanity: the probe of %s did not pass\n", o.url.c_str());
    return 1;
  }
  if (!o.negative.empty() && once(probe_spec(o, o.negative, keepalive)) != Outcome::Failed) {
    std::fprintf(stderr, "sanity: the probe of %s (negative control) did not fail\n", o.negative.c_str());
    return 1;
  }

  boost::asio::io_context loop;
  AsyncHttp http(loop);
  AsyncIo io{loop, http};
  SystemClock clock;
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < inflight; ++i) probes.push_back(make_http_probe(spec));

  bool measuring = false, stopping = false;
  long ok = 0, failed = 0, errors = 0;
  std::function<void(Probe&)> again = [&](Probe& p) {
    p.start(io, clock, [&](Observation obs) {
      if (measuring) {
        if (obs.outcome == Outcome::Passed) ++ok;
        else if (obs.outcome == Outcome::Failed) ++failed;
        else ++errors;
      }
      if (!stopping) again(p);
    });
  };
  for (auto& p : probes) again(*p);

  double cpu0 = 0;
  long conns0 = -1;
  Steady::time_point t0;
  boost::asio::steady_timer phase(loop);
  auto seconds = [](double s) {
    return std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(s));
  };
  phase.expires_after(seconds(o.warmup));
  phase.async_wait([&](auto) {
    measuring = true;
    conns0 = accepted(o.stub);
    cpu0 = cpu_seconds();
    t0 = Steady::now();
    phase.expires_after(seconds(o.seconds));
    phase.async_wait([&](auto) {
      // The window ends here; what is still in flight finishes uncounted and
      // nothing new starts, so the loop runs out of work.
      double cpu = cpu_seconds() - cpu0;
      double wall = std::chrono::duration<double>(Steady::now() - t0).count();
      measuring = false;
      stopping = true;
      long probes = ok + failed + errors;
      long conns1 = accepted(o.stub);
      std::printf("deployguard c=%d keepalive=%d probes/s=%.1f cpu_s=%.2f probes_per_cpu_s=%.0f rss_mb=%.1f"
                  " probes=%ld ok=%ld fail=%ld err=%ld cores=%.2f",
                  inflight, keepalive ? 1 : 0, probes / wall, cpu, cpu > 0 ? probes / cpu : 0.0, peak_rss_mb(), probes,
                  ok, failed, errors, cpu / wall);
      // Minus the stub read's own connection.
      if (conns0 >= 0 && conns1 >= 0 && probes > 0)
        std::printf(" tgt_conns_per_probe=%.2f", static_cast<double>(conns1 - conns0 - 1) / probes);
      std::printf("\n");
      std::fflush(stdout);
    });
  });
  loop.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") o.url = value();
    else if (a == "--negative") o.negative = value();
    else if (a == "--stub") o.stub = value();
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--warmup") o.warmup = std::stod(value());
    else if (a == "--inflight") o.inflight = std::stoi(value());
    else if (a == "--keepalive") o.keepalive = std::stoi(value()) != 0;
    else if (a == "--regex") o.regex = value();
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (o.url.empty() || o.inflight < 1) {
    std::fprintf(stderr, "usage: %s --url URL [--negative URL] [--seconds S] [--warmup S] [--inflight K] "
                 "[--keepalive 0|1] [--regex RE]\n", argv[0]);
    return 2;
  }
  return run_row(o, o.inflight, o.keepalive);
}
