// Restart cost of a long journal: builds a history of GIB GiB in segments of
// the default size (64 MiB), with records of 350-600 bytes as a watcher writes
// them (probe observations, metric readings, evaluations) and a checkpoint
// every CHECKPOINT records carrying an "engine" section of ~2 KiB; then, each
// in a fresh process so that peak RSS is the operation's own:
//   open      Journal::open + last_checkpoint() (median of RUNS)
//   full      the same with full_verify_on_open (the cost before checkpoints)
//   replay    for_each_record_since_checkpoint
//   verify    verify_journal over the whole history (median of 3)
// and again after 64 MiB more records without a checkpoint (the bound for a
// watcher that checkpoints every 64 MiB and restarts right before the next).
// Records are appended through the real Journal (rotation included) with
// fsync turned off: two million fsync'd appends take about an hour, and the fsync is not
// what is measured. The files are removed at the end unless --keep.
// Usage: journal_open_bench [--dir DIR] [--gib N] [--checkpoint-every N] [--runs N] [--keep]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/journal/journal.h"

extern char** environ;

namespace {

namespace json = boost::json;
using Ms = std::chrono::duration<double, std::milli>;

struct NoSyncIo final : dg::JournalIo {
  int fsync(int) override { return 0; }
};

// From /proc/self/status: VmHWM is this process image's own peak (getrusage's
// ru_maxrss survives exec, so a spawned child would report its parent's).
long status_kib(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') v = std::atol(line + n + 1);
  std::fclose(f);
  return v;
}

std::string text(std::mt19937_64& rng, size_t n) {
  static const char* words[] = {"editor", "bootstrap", "loaded", "in", "ms", "tenant", "globex", "acme", "plugin",
                                "framework", "ok", "status", "200", "latency", "p99", "upstream", "healthy"};
  std::string s;
  while (s.size() < n) {
    if (!s.empty()) s += ' ';
    s += words[rng() % std::size(words)];
  }
  s.resize(n);
  return s;
}

// One record as the watcher would journal it; its line is 300-600 bytes.
std::pair<std::string, json::object> record(std::mt19937_64& rng, long long i) {
  size_t pad = rng() % 180;  // lines of ~350-600 bytes
  switch (i % 3) {
    case 0:
      return {"observation",
              {{"policy", "editor_initializes"},
               {"data",
                {{"probe", i % 2 ? "editor_zero_plugins" : "editor_with_plugins"},
                 {"outcome", rng() % 50 ? "passed" : "failed"},
                 {"latency_ms", static_cast<int>(5 + rng() % 200)},
                 {"at", "2027-01-15T08:00:00.000Z"},
                 {"detail", text(rng, pad)}}}}};
    case 1:
      return {"metric_reading",
              {{"policy", "error_rate"},
               {"data",
                {{"condition", "http_5xx_ratio"},
                 {"status", "ok"},
                 {"value", static_cast<double>(rng() % 1000) / 1e5},
                 {"series", json::array{{{"labels", {{"job", "wiki"}, {"instance", "10.0.0.7:9100"}}}, {"value", 0.001}}}},
                 {"detail", text(rng, pad / 2)}}}}};
    default:
      return {"evaluation",
              {{"policy", "editor_initializes"},
               {"data", {{"verdict", "healthy"}, {"reasons", json::array{text(rng, pad)}}, {"window", 20}}}}};
  }
}

// The watcher's engine state at a checkpoint: ~2 KiB.
json::object engine_section(std::mt19937_64& rng, long long seq) {
  json::object policies;
  for (int p = 0; p < 6; ++p) {
    json::array recent;
    for (int k = 0; k < 20; ++k) recent.emplace_back(rng() % 20 ? "passed" : "failed");
    policies["policy_" + std::to_string(p)] = {{"state", "watching"}, {"since_seq", seq - 1000}, {"streak", 0}, {"recent", recent}};
  }
  json::array llr;
  for (int k = 0; k < 24; ++k) llr.emplace_back(static_cast<double>(rng() % 10000) / 1e4);
  return {{"policies", policies}, {"canary", {{"log_likelihood", llr}}}};
}

uintmax_t history_bytes(const std::string& path) {
  uintmax_t total = 0;
  for (const auto& f : dg::journal_files(path)) total += std::filesystem::file_size(f);
  return total;
}

// Appends until the history holds `bytes`, with a checkpoint every `every`
// records (0: none). Returns the records written.
long long grow(const std::string& path, uintmax_t bytes, long long every, std::mt19937_64& rng) {
  dg::FakeClock clock;
  auto j = dg::Journal::open(path, clock, std::make_shared<NoSyncIo>());
  if (!j) {
    std::fprintf(stderr, "open: %s\n", j.error().message.c_str());
    std::exit(1);
  }
  (*j)->set_context({"wiki", "production", "42", "bench-run"});
  uintmax_t have = history_bytes(path);
  long long n = 0;
  long long since = 0;
  while (have < bytes) {
    clock.advance(dg::Duration{10});
    long long seq = (*j)->head().seq + 1;
    dg::Result<long long> r;
    if (every > 0 && ++since >= every) {
      since = 0;
      r = (*j)->append_checkpoint({{"engine", engine_section(rng, seq)}});
    } else {
      auto [kind, fields] = record(rng, seq);
      r = (*j)->append(kind, std::move(fields));
    }
    if (!r) {
      std::fprintf(stderr, "append: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    ++n;
    if (n % 1024 == 0) have = history_bytes(path);
  }
  return n;
}

// Child modes: one operation in a fresh process, one JSON line on stdout.
int child(const std::string& mode, const std::string& path) {
  long rss_before = status_kib("VmRSS");
  auto t0 = std::chrono::steady_clock::now();
  json::object out;
  if (mode == "open" || mode == "full") {
    dg::SystemClock clock;
    auto j = dg::Journal::open(path, clock, nullptr, {64 << 20, mode == "full"});
    if (!j) {
      std::fprintf(stderr, "open: %s\n", j.error().message.c_str());
      return 1;
    }
    auto cp = (*j)->last_checkpoint();
    out["head"] = (*j)->head().seq;
    out["checkpoint"] = cp ? cp->seq : 0;
  } else if (mode == "replay") {
    long long n = 0;
    dg::for_each_record_since_checkpoint(path, [&](json::object&) {
      ++n;
      return true;
    });
    out["records"] = n;
  } else {
    auto c = dg::verify_journal(path);
    if (!c.ok) {
      std::fprintf(stderr, "verify: %s\n", c.message.c_str());
      return 1;
    }
    out["records"] = c.records;
    out["segments"] = c.segments;
  }
  out["ms"] = Ms(std::chrono::steady_clock::now() - t0).count();
  out["rss_before_kib"] = rss_before;
  out["rss_peak_kib"] = status_kib("VmHWM");
  std::printf("%s\n", json::serialize(out).c_str());
  return 0;
}

json::object run_child(const std::string& mode, const std::string& path) {
  int fds[2];
  if (::pipe(fds) != 0) std::exit(1);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string flag = "--child=" + mode;
  char* argv[] = {self.data(), flag.data(), const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), &fa, nullptr, argv, environ) != 0) std::exit(1);
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "child %s failed\n", mode.c_str());
    std::exit(1);
  }
  return json::parse(text).as_object();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void measure(const char* label, const std::string& mode, const std::string& path, int runs) {
  std::vector<double> ms;
  json::object last;
  long peak = 0;
  for (int i = 0; i < runs; ++i) {
    last = run_child(mode, path);
    ms.push_back(last.at("ms").to_number<double>());
    peak = std::max<long>(peak, static_cast<long>(last.at("rss_peak_kib").to_number<double>()));
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%-34s median %9.1f ms  (min %.1f, max %.1f, %d run(s))  peak RSS %ld KiB (process at start %ld KiB)  %s\n",
              label, median(ms), ms.front(), ms.back(), runs, peak,
              static_cast<long>(last.at("rss_before_kib").to_number<double>()), json::serialize(last).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double gib = 1;
  long long every = 10000;
  int runs = 7;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a.starts_with("--child=") && i + 1 < argc) return child(a.substr(8), argv[i + 1]);
    if (a == "--dir") dir = next();
    else if (a == "--gib") gib = std::atof(next().c_str());
    else if (a == "--checkpoint-every") every = std::atoll(next().c_str());
    else if (a == "--runs") runs = std::atoi(next().c_str());
    else if (a == "--keep") keep = true;
    else {
      std::fprintf(stderr, "usage: journal_open_bench [--dir DIR] [--gib N] [--checkpoint-every N] [--runs N] [--keep]\n");
      return 2;
    }
  }
  bool made_dir = dir.empty();
  if (made_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dg-journal-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return 1;
    dir = tmpl;
  }
  std::string path = dir + "/journal.jsonl";
  std::mt19937_64 rng(1);
  auto target = static_cast<uintmax_t>(gib * (1ull << 30));
  auto t0 = std::chrono::steady_clock::now();
  long long n = grow(path, target, every, rng);
  double gen_s = Ms(std::chrono::steady_clock::now() - t0).count() / 1000;
  std::printf("history: %lld records, %.2f GiB in %zu files, checkpoint every %lld records; built in %.1f s "
              "(%.0f records/s, fsync off)\n",
              n, static_cast<double>(history_bytes(path)) / (1ull << 30), dg::journal_files(path).size(), every, gen_s,
              static_cast<double>(n) / gen_s);
  measure("open + last_checkpoint", "open", path, runs);
  measure("open, full_verify_on_open", "full", path, 1);
  measure("replay since checkpoint", "replay", path, 3);
  measure("verify_journal (whole history)", "verify", path, 3);
  // 64 MiB after the last checkpoint: the worst a watcher checkpointing every
  // 64 MiB restarts into.
  grow(path, history_bytes(path) + (64u << 20), 0, rng);
  measure("open, 64 MiB after the checkpoint", "open", path, runs);
  if (!keep) {
    for (const auto& f : dg::journal_files(path)) std::filesystem::remove(f);
    std::filesystem::remove(path + ".lock");
    if (made_dir) std::filesystem::remove(dir);
  } else {
    std::printf("kept in %s\n", dir.c_str());
  }
  return 0;
}
