// Exposition parser throughput (MiB/s, samples/s) on generated expositions of
// ~1 MiB and ~10 MiB shaped like real ones (counters with several labels,
// histograms, summaries), and allocations per sample in the steady state
// (the same input parsed again: only the parser's own buffers, no growth).
// Each input is parsed as text 0.0.4 and, written as OpenMetrics (family
// names without _total, `# EOF`), as OpenMetrics; the ManySeries rows are one
// counter family of 200k series, where OpenMetrics' series tracking dominates.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <new>
#include <string>

#include "probes/metrics/exposition.h"

static std::atomic<long long> g_allocs{0};
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// om: the same samples as OpenMetrics (counter metadata names the family).
std::string make_exposition(size_t target_bytes, bool om = false) {
  std::string out;
  int family = 0;
  while (out.size() < target_bytes) {
    std::string name = "http_server_requests_" + std::to_string(family++);
    std::string meta = om ? name : name + "_total";
    out += "# HELP " + meta + " Requests handled, by route, method and code.\n";
    out += "# TYPE " + meta + " counter\n";
    for (int r = 0; r < 8; ++r)
      for (const char* code : {"200", "404", "500"})
        out += name + "_total{route=\"/api/v1/items/" + std::to_string(r) + "\",method=\"GET\",code=\"" + code +
               "\",instance=\"10.0.0." + std::to_string(r) + ":8080\"} " + std::to_string(1000 + r * 37) + "\n";
    std::string h = name + "_duration_seconds";
    out += "# HELP " + h + " Request latency.\n# TYPE " + h + " histogram\n";
    for (int r = 0; r < 4; ++r) {
      double cum = 0;
      for (const char* le : {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}) {
        cum += 17;
        out += h + "_bucket{route=\"/r" + std::to_string(r) + "\",le=\"" + le + "\"} " + std::to_string(cum) + "\n";
      }
      out += h + "_sum{route=\"/r" + std::to_string(r) + "\"} 12.5e-1\n";
      out += h + "_count{route=\"/r" + std::to_string(r) + "\"} " + std::to_string(cum) + "\n";
    }
  }
  if (om) out += "# EOF\n";
  return out;
}

// One counter family with `series` series: what a big service's per-pod or
// per-route counter looks like.
std::string make_many_series(int series, bool om) {
  std::string out = om ? "# TYPE m counter\n" : "# TYPE m_total counter\n";
  for (int i = 0; i < series; ++i)
    out += "m_total{pod=\"p" + std::to_string(i) + "\",code=\"200\"} " + std::to_string(i) + "\n";
  if (om) out += "# EOF\n";
  return out;
}

struct Counter final : dg::ExpositionVisitor {
  double sum = 0;
  void on_sample(const dg::SampleView& s) override { sum += s.value + static_cast<double>(s.labels.size()); }
};

void run_parse(benchmark::State& state, const std::string& text, dg::ExpositionFormat format) {
  Counter c;
  size_t samples = 0;
  dg::ExpositionParser parser;  // one per target, kept across scrapes
  auto first = parser.parse(text, format, c);  // warm up: names are learned once
  if (!first) state.SkipWithError(first.error().str().c_str());
  long long allocs_before = g_allocs.load();
  long long iterations = 0;
  for (auto _ : state) {
    auto r = parser.parse(text, format, c);
    samples += r ? r->samples : 0;
    ++iterations;
  }
  long long allocs = g_allocs.load() - allocs_before;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.counters["allocs/sample"] =
      static_cast<double>(allocs) / static_cast<double>(std::max<size_t>(1, samples));
  state.counters["allocs/parse"] = static_cast<double>(allocs) / static_cast<double>(std::max<long long>(1, iterations));
  benchmark::DoNotOptimize(c.sum);
}

void BM_ParseText(benchmark::State& state) {
  run_parse(state, make_exposition(static_cast<size_t>(state.range(0)) << 20), dg::ExpositionFormat::Text004);
}
BENCHMARK(BM_ParseText)->Arg(1)->Arg(10)->Unit(benchmark::kMillisecond);

void BM_ParseOpenMetrics(benchmark::State& state) {
  run_parse(state, make_exposition(static_cast<size_t>(state.range(0)) << 20, true), dg::ExpositionFormat::OpenMetrics);
}
BENCHMARK(BM_ParseOpenMetrics)->Arg(1)->Arg(10)->Unit(benchmark::kMillisecond);

void BM_ParseManySeriesText(benchmark::State& state) {
  run_parse(state, make_many_series(static_cast<int>(state.range(0)), false), dg::ExpositionFormat::Text004);
}
BENCHMARK(BM_ParseManySeriesText)->Arg(200'000)->Unit(benchmark::kMillisecond);

void BM_ParseManySeriesOpenMetrics(benchmark::State& state) {
  run_parse(state, make_many_series(static_cast<int>(state.range(0)), true), dg::ExpositionFormat::OpenMetrics);
}
BENCHMARK(BM_ParseManySeriesOpenMetrics)->Arg(200'000)->Unit(benchmark::kMillisecond);

}  // namespace

// --write-inputs=DIR writes the inputs as DIR/exposition-{1,10}MiB.prom and
// exits, so that other parsers (scripts/bench.sh runs Prometheus' own) and the
// whole `deployguard exposition check` process read exactly these bytes.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--write-inputs=", 15) != 0) continue;
    std::string dir = argv[i] + 15;
    for (int mib : {1, 10}) {
      std::string path = dir + "/exposition-" + std::to_string(mib) + "MiB.prom";
      std::string text = make_exposition(static_cast<size_t>(mib) << 20);
      std::ofstream out(path, std::ios::binary);
      out << text;
      if (!out.flush()) {
        std::cerr << "cannot write " << path << "\n";
        return 1;
      }
      std::cout << path << "\n";
    }
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
