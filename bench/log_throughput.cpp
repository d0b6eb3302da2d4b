// The miner's throughput and memory, on one core.
//   log_throughput [LOGHUB_DIR] [--lines N]   mining and counting (header, miner, tally)
//     on the concatenated Loghub samples replayed to N lines (default 10 M), the numbers
//     of each replay changed (every digit run shifted by the replay's index) so that no
//     cache of exact lines helps; lines/s over 3 runs.
//   log_throughput --rss [--lines N]          peak RSS after N (default 1 M) distinct
//     lines (every line a new template) under the default signature cap.
#include <sys/resource.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "logs/pipeline.h"

namespace {

std::vector<std::string> base_lines(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(e.path() / (e.path().filename().string() + "_2k.log"));
      std::string l;
      while (std::getline(in, l)) {
        if (!l.empty() && l.back() == '\r') l.pop_back();
        out.push_back(l);
      }
    }
  if (out.empty()) {
    // No samples: a service-like mix instead.
    for (int i = 0; i < 24000; ++i)
      out.push_back("2026-12-01T10:00:00." + std::to_string(i % 1000) + "Z INFO request " + std::to_string(i) +
                    " served in " + std::to_string(i % 97) + " ms for tenant t" + std::to_string(i % 13) + " from 10.0.0." +
                    std::to_string(i % 250));
  }
  return out;
}

// Every digit run shifted by r (as decimal), lengths kept roughly.
std::string shift_numbers(const std::string& l, unsigned r) {
  std::string out;
  out.reserve(l.size() + 8);
  for (size_t i = 0; i < l.size();) {
    if (l[i] >= '0' && l[i] <= '9') {
      size_t j = i;
      unsigned long long v = 0;
      while (j < l.size() && l[j] >= '0' && l[j] <= '9' && j - i < 18) v = v * 10 + static_cast<unsigned>(l[j++] - '0');
      out += std::to_string(v + r);
      i = j;
    } else {
      out += l[i++];
    }
  }
  return out;
}

double thread_cpu() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = "../shared/loghub";
  bool rss = false;
  size_t lines = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rss") rss = true;
    else if (a == "--lines" && i + 1 < argc) lines = std::stoull(argv[++i]);
    else dir = a;
  }
  using Clock = std::chrono::steady_clock;
  dg::logs::LogLine line;
  const auto t0 = dg::TimePoint{std::chrono::seconds{1'800'000'000}};
  if (rss) {
    if (!lines) lines = 1'000'000;
    long before = peak_rss_kib();
    auto p = dg::logs::LogPipeline::make({}, {}, std::chrono::minutes(20));
    std::string text;
    const char* letters = "abcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < lines; ++i) {
      // Words without digits: the masks leave them, every line a new template.
      std::string w;
      for (size_t k = i; k; k /= 26) w += letters[k % 26];
      // Unique words throughout: no two lines share a template.
      line.text = "2026-12-01T10:00:00Z ERROR " + w + " " + w + "q cannot " + w + "x open " + w + "y " + w + "z";
      line.at = t0 + std::chrono::milliseconds(i);  // 1,000 lines a second
      p->ingest(line, line.at, line.at);
      if (i % 100'000 == 0) p->prune(line.at);
    }
    std::printf("distinct lines %zu: signatures %zu (cap %zu), evicted %llu, other bucket %llu lines; peak RSS %.1f MB (at start %.1f MB)\n",
                lines, p->miner().size(), p->miner().options().max_signatures, (unsigned long long)p->miner().evicted(),
                (unsigned long long)p->miner().other_count(), peak_rss_kib() / 1024.0, before / 1024.0);
    return 0;
  }
  if (!lines) lines = 10'000'000;
  auto base = base_lines(dir);
  std::printf("base: %zu lines (%s)\n", base.size(), std::filesystem::is_directory(dir) ? dir.string().c_str() : "synthetic");
  std::vector<double> rates;
  for (int run = 0; run < 3; ++run) {
    auto p = dg::logs::LogPipeline::make({}, {}, std::chrono::minutes(20));
    double busy = 0, cpu = 0;
    size_t done = 0, bytes = 0;
    for (unsigned r = 0; done < lines; ++r) {
      // The replay is made outside the timed part.
      std::vector<std::string> replay;
      replay.reserve(base.size());
      for (const auto& l : base) replay.push_back(r ? shift_numbers(l, r) : l);
      auto start = Clock::now();
      double cpu0 = thread_cpu();
      for (auto& l : replay) {
        if (done >= lines) break;
        line.text.swap(l);
        line.at = t0 + std::chrono::microseconds(done * 10);  // 100,000 lines a second
        bytes += line.text.size();
        p->ingest(line, line.at, line.at);
        ++done;
      }
      p->prune(line.at);
      busy += std::chrono::duration<double>(Clock::now() - start).count();
      cpu += thread_cpu() - cpu0;
    }
    // CPU time of this thread: on a shared machine wall time also counts
    // the time other processes held the core.
    rates.push_back(static_cast<double>(done) / cpu);
    std::printf("run %d: %zu lines (%.0f MB): %.2f s CPU, %.2f s wall: %.2f M lines per CPU-second (%.2f M/s wall); %zu signatures, other %llu\n",
                run + 1, done, bytes / 1e6, cpu, busy, rates.back() / 1e6, done / busy / 1e6, p->miner().size(),
                (unsigned long long)p->miner().other_count());
  }
  std::sort(rates.begin(), rates.end());
  std::printf("median %.2f M lines per CPU-second, best %.2f (target >= 1 M/s on one core); peak RSS %.1f MB\n", rates[1] / 1e6,
              rates[2] / 1e6, peak_rss_kib() / 1024.0);
  return 0;
}
