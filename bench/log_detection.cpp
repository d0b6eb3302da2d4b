// Detection by the log conditions on a synthetic service log: a steady mix
// of 50 templates (Zipf weights, Poisson arrivals), a 10-minute baseline, a
// release, then 10 minutes judged every 5 s. Scenarios: a new error
// signature at 0.1 % of lines; one template (about 2 % of lines) surging 3x;
// and A/A (nothing changes) for the false-trip rate. Lines go through the
// whole pipeline (auto header, masker, miner, tally).
//   log_detection [--runs N] [--aa N] [--aa-raw N] [--rate LINES_PER_S]
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "logs/conditions.h"
#include "logs/pipeline.h"

namespace {

using namespace std::chrono_literals;
using dg::logs::LogJudgement;

const char* kVerbs[] = {"loaded", "stored", "fetched", "rendered", "queued", "parsed", "sent", "checked", "merged", "closed"};
const char* kNouns[] = {"page", "session", "revision", "attachment", "index"};

struct Mix {
  std::vector<std::string> templates;  // with %d for numbers
  std::vector<double> weights;
};

Mix make_mix() {
  Mix m;
  for (int k = 0; k < 50; ++k) {
    std::string level = k >= 47 ? "ERROR" : k >= 40 ? "WARN" : "INFO";
    m.templates.push_back("2026-12-01T10:00:00Z " + level + " " + kVerbs[k % 10] + " " + kNouns[k / 10] +
                          " %d in %d ms for tenant %d");
    m.weights.push_back(1.0 / (k + 1));
  }
  return m;
}

std::string fill(const std::string& t, std::mt19937& rng) {
  std::string out;
  std::uniform_int_distribution<int> n(1, 99999);
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '%' && i + 1 < t.size() && t[i + 1] == 'd') {
      out += std::to_string(n(rng));
      ++i;
    } else {
      out += t[i];
    }
  }
  return out;
}

enum class Scenario { AA, NewError, Surge };

struct Outcome {
  bool surge = false, fresh = false, share = false;
  long lines_to_trip = -1;  // after the release, for the scenario's condition
};

Outcome run(Scenario sc, unsigned seed, double rate, double min_ratio) {
  std::mt19937 rng(seed);
  Mix mix = make_mix();
  const int surging = 9;  // about 2.2 % of lines
  auto p = dg::logs::LogPipeline::make({}, {}, 25min);
  const dg::TimePoint t0{std::chrono::seconds{1'800'000'000}};
  dg::TimePoint now = t0;
  std::poisson_distribution<int> arrivals(rate);
  std::uniform_real_distribution<double> u(0, 1);
  auto emit = [&](const std::vector<double>& w, bool after, long& after_lines) {
    std::discrete_distribution<int> pick(w.begin(), w.end());
    int n = arrivals(rng);
    for (int i = 0; i < n; ++i) {
      dg::logs::LogLine l;
      l.at = now + std::chrono::microseconds(static_cast<long>(1e6 * i / std::max(1, n)));
      if (after && sc == Scenario::NewError && u(rng) < 0.001)
        l.text = fill("2026-12-01T10:00:00Z ERROR cannot load editor module list for tenant %d", rng);
      else
        l.text = fill(mix.templates[static_cast<size_t>(pick(rng))], rng);
      p->ingest(l, now, now);
      if (after) ++after_lines;
    }
    now += 1s;
  };
  long ignored = 0, after_lines = 0;
  for (int s = 0; s < 600; ++s) emit(mix.weights, false, ignored);
  dg::logs::LogWindows w{.release = now, .baseline = 600s, .window = 600s, .step = 5s};
  std::vector<double> after_weights = mix.weights;
  if (sc == Scenario::Surge) after_weights[surging] *= 3;
  Outcome o;
  dg::logs::SurgeCondition surge{.alpha = 0.01, .min_ratio = min_ratio};
  dg::logs::NewSignatureCondition fresh;
  dg::logs::ErrorShareCondition share{.alpha = 0.01, .min_ratio = min_ratio};
  for (int s = 0; s < 600; ++s) {
    emit(after_weights, true, after_lines);
    if ((s + 1) % 5) continue;
    bool was = sc == Scenario::Surge ? o.surge : o.fresh;
    if (!o.surge) o.surge = dg::logs::judge_surge(surge, p->tally(), w, now).state == LogJudgement::State::Tripped;
    if (!o.fresh) o.fresh = dg::logs::judge_new_signature(fresh, p->tally(), w, now).state == LogJudgement::State::Tripped;
    if (!o.share) o.share = dg::logs::judge_error_share(share, p->tally(), w, now).state == LogJudgement::State::Tripped;
    bool is = sc == Scenario::Surge ? o.surge : o.fresh;
    if (!was && is) o.lines_to_trip = after_lines;
    if (sc != Scenario::AA && o.lines_to_trip >= 0) break;
  }
  return o;
}

double median(std::vector<long> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 100, aa = 1000, aa_raw = 250;
  double rate = 50;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[++i]);
    else if (a == "--aa") aa = std::atoi(argv[++i]);
    else if (a == "--aa-raw") aa_raw = std::atoi(argv[++i]);
    else if (a == "--rate") rate = std::atof(argv[++i]);
  }
  std::printf("synthetic log: 50 templates (Zipf), Poisson %.0f lines/s; baseline 10 min, judged 10 min every 5 s; alpha 0.01\n", rate);
  for (auto [name, sc] : {std::pair{"new error signature at 0.1 %", Scenario::NewError}, std::pair{"one template (2.2 %) surging 3x", Scenario::Surge}}) {
    std::vector<long> lines;
    int caught = 0;
    for (int r = 0; r < runs; ++r) {
      Outcome o = run(sc, 1000 + r, rate, 1.5);
      if (o.lines_to_trip >= 0) lines.push_back(o.lines_to_trip), ++caught;
    }
    std::sort(lines.begin(), lines.end());
    std::printf("%-34s caught %d/%d; lines after the release until the trip: median %.0f, p90 %.0f (%.0f s at %.0f lines/s)\n", name,
                caught, runs, median(lines), lines.empty() ? -1.0 : static_cast<double>(lines[lines.size() * 9 / 10]),
                median(lines) / rate, rate);
  }
  // The default null (min_ratio 1.5), and the test's own null (1.0: any rise).
  for (auto [min_ratio, n] : {std::pair{1.5, aa}, std::pair{1.0, aa_raw}}) {
    int surge = 0, fresh = 0, share = 0, any = 0;
    const int aa = n;
    for (int r = 0; r < aa; ++r) {
      Outcome o = run(Scenario::AA, 500000 + r, rate, min_ratio);
      surge += o.surge, fresh += o.fresh, share += o.share, any += o.surge || o.fresh || o.share;
    }
    std::printf("A/A, %d runs, min_ratio %.1f: false trips surge %d (%.1f %%), new_signature %d, error_share %d (%.1f %%); any %.1f %% (target <= 1 %% per condition)\n",
                aa, min_ratio, surge, 100.0 * surge / aa, fresh, share, 100.0 * share / aa, 100.0 * any / aa);
  }
  return 0;
}
