// The agent's own cost on the path from a deciding observation to a flag file
// renamed in place: evaluate the policy, journal the intent (fsync), rewrite
// the flagd file atomically (fsync + rename + dir fsync), journal the outcome.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "agent/journal/journal.h"
#include "flags/flagd_file.h"
#include "flags/segment.h"
#include "policies/evaluator.h"
#include "probes/http_probe.h"

namespace {

using namespace dg;

std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "dg-bench-XXXXXX").string();
  return ::mkdtemp(tmpl.data());
}

History make_history(size_t n) {
  History h;
  TimePoint t{std::chrono::seconds{1'800'000'000}};
  for (const char* probe : {"zero_plugins", "with_plugins"})
    for (size_t i = 0; i < n; ++i)
      h[probe].push_back(Observation{.signal = probe, .at = t + std::chrono::seconds(i),
                                     .outcome = (i % 7 == 0) ? Outcome::Failed : Outcome::Passed, .detail = "status 200"});
  return h;
}

PolicySpec make_policy() {
  PolicySpec p;
  p.name = "editor";
  p.probes = {"zero_plugins", "with_plugins"};
  p.consecutive_failures = 3;
  p.window_failures = 5;
  p.window_runs = 20;
  return p;
}

void BM_EvaluatePolicy(benchmark::State& state) {
  History h = make_history(static_cast<size_t>(state.range(0)));
  PolicySpec p = make_policy();
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(p, h, Phase::Ongoing));
}
BENCHMARK(BM_EvaluatePolicy)->Arg(16)->Arg(512);

void BM_EvaluateHttpResponse(benchmark::State& state) {
  HttpProbeSpec http;
  http.expect.body_contains = {"editor-bootstrap.js"};
  ProbeSpec spec{.name = "editor", .type = "http", .kind = http};
  HttpResponse r;
  r.status = 200;
  r.body = std::string(static_cast<size_t>(state.range(0)), 'x') + "<script src=\"/static/editor-bootstrap.js\">";
  Result<HttpResponse> res(r);
  for (auto _ : state) benchmark::DoNotOptimize(evaluate_http(spec, res, {}));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_EvaluateHttpResponse)->Arg(4 << 10)->Arg(256 << 10);

void BM_JournalAppend(benchmark::State& state) {
  std::string dir = temp_dir();
  SystemClock clock;
  auto journal = Journal::open(dir + "/journal.jsonl", clock);
  for (auto _ : state) (void)(*journal)->append("action_intent", {{"policy", "editor"}, {"data", {{"flag", "x"}}}});
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_JournalAppend)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The whole decision path; every other iteration restores the flag instead,
// so each iteration rewrites the file and its size stays constant.
void BM_DecisionToFlagRenamed(benchmark::State& state) {
  std::string dir = temp_dir();
  std::filesystem::copy_file(DG_SOURCE_DIR "/examples/wiki/flags.json", dir + "/flags.json");
  auto provider = *make_flagd_file_provider({"f", "flagd-file", FlagdFileSpec{dir + "/flags.json"}});
  SystemClock clock;
  auto journal = Journal::open(dir + "/journal.jsonl", clock);
  History h = make_history(64);
  PolicySpec p = make_policy();
  std::string segment = *compile_segment("pluginCount == 0");
  FlagSnapshot original = *provider->read("connect-framework");
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(evaluate(p, h, Phase::Ongoing));
    (void)(*journal)->append("action_intent", {{"data", {{"targeting", boost::json::parse(segment)}}}});
    auto r = i++ % 2 == 0 ? provider->apply({"connect-framework", "off", "pluginCount == 0", segment})
                          : provider->restore(original);
    if (!r || !r->changed) {
      state.SkipWithError(r ? "flag was not rewritten" : r.error().message.c_str());
      break;
    }
    (void)(*journal)->append("action_outcome", {{"data", {{"ok", true}}}});
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DecisionToFlagRenamed)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
