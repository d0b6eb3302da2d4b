// Fuzz target for the two parsers that read untrusted bytes: the exposition
// parser (both formats) and the Prometheus API answer decoder. The entry point
// is libFuzzer's; without libFuzzer the same file builds a standalone driver
// that mutates seed files (e.g. the conformance corpora) for a bounded time.
// Invariant: no crash, no hang, no sanitizer report, on any input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probes/metrics/exposition.h"
#include "probes/metrics/prometheus_response.h"

namespace {
struct Sink final : dg::ExpositionVisitor {
  size_t n = 0;
  void on_sample(const dg::SampleView& s) override { n += s.labels.size() + s.name.size(); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Sink sink;
  (void)dg::parse_exposition(in, dg::ExpositionFormat::Text004, sink);
  (void)dg::parse_exposition(in, dg::ExpositionFormat::OpenMetrics, sink);
  static dg::ExpositionParser reused;  // the stateful path a scrape source uses
  (void)reused.parse(in, dg::ExpositionFormat::Text004, sink);
  (void)dg::decode_prometheus_answer(200, "application/json", in);
  return 0;
}

#ifndef DG_LIBFUZZER
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

// Usage: parsers_fuzz SECONDS [SEED_DIR_OR_FILE...]
int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  std::vector<std::string> seeds = {"a 1\n", "# TYPE a counter\na_total 1\n# EOF\n",
                                    R"({"status":"success","data":{"resultType":"vector","result":[]}})"};
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    auto add = [&](const std::filesystem::path& p) {
      std::ifstream f(p, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      if (ss.str().size() < (1 << 20)) seeds.push_back(ss.str());
    };
    if (std::filesystem::is_directory(argv[i], ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i], ec))
        if (e.is_regular_file()) add(e.path());
    } else {
      add(argv[i]);
    }
  }
  std::mt19937_64 rng(12345);
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const std::string tokens[] = {"{", "}", "=", "\"", "\\", "\n", " ", "#", "# EOF\n", "# TYPE ", "# HELP ", "NaN",
                                "+Inf", "le=\"", "_bucket", "_total", ",", "\xff", std::string(1, '\0'), "1e308", "-0"};
  long long runs = 0;
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  while (std::chrono::steady_clock::now() < end) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0: if (!s.empty() && pos < s.size()) s.erase(pos, 1 + rng() % 4); break;
        case 1: s.insert(pos, tokens[rng() % std::size(tokens)]); break;
        case 2: if (pos < s.size()) s[pos] = static_cast<char>(rng()); break;
        case 3: if (!s.empty()) s.insert(pos, s.substr(rng() % s.size(), 1 + rng() % 16)); break;
        case 4: s.resize(pos); break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++runs;
  }
  std::printf("parsers_fuzz: %lld mutated inputs from %zu seeds in %.0f s, no crash\n", runs, seeds.size(), seconds);
  return 0;
}
#endif
