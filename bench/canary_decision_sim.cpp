// Decision quality of the canary test, simulated with known ground truth.
// Traffic arrives continuously; the guard looks every few seconds at what both
// arms counted. Each row is a traffic split (1:1, 1:9, 1:19, or a ramp from
// 5 % to 50 % of traffic with an error burst shared by both arms during the
// 50 % phase), a baseline error rate and the canary's true error ratio. Rules:
//   guard       the guard's test (policies/canary_test.h): per-interval fold;
//               trips on its sequential test at any size, healthy once the
//               ratio's upper bound is below max_ratio (and min_requests)
//   old-cumul   the previous test: the same mixture on cumulative counts,
//               theta0 from the cumulative split, trips only after min_requests
//   wald-SPRT   Wald's SPRT per interval, told the true ratio (2x under A/A):
//               the optimum for this two-arm problem
// A second table: requests per arm a healthy verdict takes at ratio 1 (1:1),
// per max_ratio and baseline rate (the table in docs/config.md).
// Usage: canary_decision_sim [trials=2000] [seed=1]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "policies/canary_test.h"

namespace {

constexpr double kAlpha = 0.01;
constexpr double kMinRequests = 500;
constexpr double kMaxRatio = 3;
constexpr int kPerLook = 200;  // requests per look over both arms (e.g. 40 req/s, a look every 5 s)
constexpr int kLooks = 400;    // 80,000 requests in all: 40,000 per arm at 1:1

struct Split {
  const char* name;
  double share;  // of traffic to the canary; < 0: the ramp
};

// The ramp: 5 %, 10 %, 25 %, 50 % for a quarter of the looks each. During the
// first 40 looks at 50 %, a shared dependency fails: the baseline's error rate
// rises to 20 % and the canary's by the same factor (the true ratio holds).
double share_at(const Split& s, int look) {
  if (s.share > 0) return s.share;
  static const double phases[] = {0.05, 0.10, 0.25, 0.50};
  return phases[std::min(3, look * 4 / kLooks)];
}
bool burst_at(const Split& s, int look) { return s.share < 0 && look >= 300 && look < 340; }

// The previous test, on cumulative counts (kept here to measure it).
bool old_cumulative_rejects(double e1, double n1, double e0, double n0) {
  if (n1 <= 0 || n0 <= 0 || e1 + e0 <= 0) return false;
  const double ratios[] = {1.25, 1.5, 2.0, 3.0, 5.0, 10.0};
  double theta0 = n1 / (n1 + n0), top = -INFINITY, terms[6];
  for (int i = 0; i < 6; ++i) {
    double th = ratios[i] * n1 / (ratios[i] * n1 + n0);
    terms[i] = e1 * std::log(th / theta0) + e0 * std::log((1 - th) / (1 - theta0));
    top = std::max(top, terms[i]);
  }
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum / 6) >= std::log(1 / kAlpha);
}

struct Tally {
  int hits = 0;
  std::vector<double> requests;  // canary requests at the event
  void add(double n) {
    ++hits;
    requests.push_back(n);
  }
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

void trip_table(int trials, std::mt19937_64& rng) {
  const Split splits[] = {{"1:1", 0.5}, {"1:9", 0.1}, {"1:19", 0.05}, {"ramp+burst", -1}};
  std::printf("| split | baseline | ratio | rule | trips | median canary req | p90 | healthy (ever) | median canary req to healthy |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Split& sp : splits)
    for (double p0 : {0.001, 0.01})
      for (double ratio : {1.0, 2.0, kMaxRatio}) {
        Tally trips[3], healthy;
        double wald_r = ratio > 1 ? ratio : 2.0;
        for (int t = 0; t < trials; ++t) {
          dg::CanaryState s = dg::canary_start(kMaxRatio);
          double e1 = 0, n1 = 0, e0 = 0, n0 = 0, wald = 0;
          bool tripped[3] = {false, false, false}, was_healthy = false;
          for (int look = 0; look < kLooks; ++look) {
            int d_n1 = static_cast<int>(std::lround(kPerLook * share_at(sp, look))), d_n0 = kPerLook - d_n1;
            double p = burst_at(sp, look) ? 0.20 : p0;
            std::binomial_distribution<int> b1(d_n1, std::min(1.0, p * ratio)), b0(d_n0, p);
            double d_e1 = b1(rng), d_e0 = b0(rng);
            e1 += d_e1, n1 += d_n1, e0 += d_e0, n0 += d_n0;
            s = dg::canary_fold(std::move(s), {d_e1, static_cast<double>(d_n1), d_e0, static_cast<double>(d_n0)});
            double th0 = d_n1 / static_cast<double>(kPerLook), th1 = wald_r * d_n1 / (wald_r * d_n1 + d_n0);
            wald += d_e1 * std::log(th1 / th0) + d_e0 * std::log((1 - th1) / (1 - th0));
            dg::CanaryJudgement j = dg::canary_judge(s, kAlpha);
            bool now[3] = {j.regression, old_cumulative_rejects(e1, n1, e0, n0) && std::min(n1, n0) >= kMinRequests,
                           wald >= std::log(1 / kAlpha)};
            for (int i = 0; i < 3; ++i)
              if (now[i] && !tripped[i]) {
                tripped[i] = true;
                trips[i].add(n1);
              }
            if (!was_healthy && j.below_max && std::min(n1, n0) >= kMinRequests) {
              was_healthy = true;
              healthy.add(n1);
            }
            // Everything measured has happened: the rest of the horizon changes nothing.
            if (tripped[0] && tripped[1] && tripped[2] && (was_healthy || ratio > 1)) break;
          }
        }
        const char* names[] = {"guard", "old-cumul", "wald-SPRT"};
        for (int i = 0; i < 3; ++i) {
          std::string h = i == 0 ? std::to_string(100.0 * healthy.hits / trials).substr(0, 5) + "%" : "";
          std::string hm = i == 0 && !healthy.requests.empty() ? std::to_string(static_cast<long>(quantile(healthy.requests, 0.5))) : "";
          std::printf("| %s | %.1f%% | %.1fx | %s | %.2f%% | %.0f | %.0f | %s | %s |\n", sp.name, p0 * 100, ratio, names[i],
                      100.0 * trips[i].hits / trials, quantile(trips[i].requests, 0.5), quantile(trips[i].requests, 0.9),
                      h.c_str(), hm.c_str());
        }
      }
}

// Requests per arm until the guard says healthy, at ratio 1 and 1:1.
void healthy_table(int trials, std::mt19937_64& rng) {
  const double ratios[] = {1.5, 2, 3, 5};
  const double rates[] = {0.001, 0.005, 0.01, 0.05};
  std::printf("\n| baseline | max_ratio 1.5 | 2 | 3 | 5 |\n|---|---|---|---|---|\n");
  for (double p0 : rates) {
    std::printf("| %.1f%% |", p0 * 100);
    for (double m : ratios) {
      // About 2 errors per look per arm, so the look granularity does not dominate.
      int per_arm = std::max(50, static_cast<int>(2 / p0));
      std::vector<double> at;
      int never = 0;
      for (int t = 0; t < trials; ++t) {
        dg::CanaryState s = dg::canary_start(m);
        double n = 0;
        bool done = false;
        for (int look = 0; look < 3000 && !done; ++look) {
          std::binomial_distribution<int> b(per_arm, p0);
          double e1 = b(rng), e0 = b(rng);
          s = dg::canary_fold(std::move(s), {e1, static_cast<double>(per_arm), e0, static_cast<double>(per_arm)});
          n += per_arm;
          dg::CanaryJudgement j = dg::canary_judge(s, kAlpha);
          if (j.below_max && n >= kMinRequests) {
            at.push_back(n);
            done = true;
          }
        }
        never += !done;
      }
      std::printf(" %.0f%s |", quantile(at, 0.5), never ? " (+)" : "");
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int trials = argc > 1 ? std::atoi(argv[1]) : 2000;
  unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 1;
  std::mt19937_64 rng(seed);
  trip_table(trials, rng);
  healthy_table(std::max(200, trials / 10), rng);
  return 0;
}
