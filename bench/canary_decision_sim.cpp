// Decision quality of the canary test, simulated with known ground truth.
// Traffic arrives continuously at both arms; the guard looks every few
// seconds at the cumulative counts. For each scenario (baseline error rate,
// true canary/baseline ratio) we run many canaries and report how often each
// rule trips and how many requests per arm it needed:
//   mixture-SPRT  the guard's test (policies/metric_evaluator.cpp)
//   wald-SPRT     Wald's SPRT that knows the true ratio: the optimum for this
//                 two-arm problem (baseline rate unknown, errors conditioned on)
//   wald-known-p0 Wald's SPRT that also knows the baseline rate exactly: a lower
//                 bound no two-arm test can reach
//   fixed+peek    a one-sided two-proportion z-test at alpha, checked at every look
//   naive-ratio   "canary error ratio above 2x the baseline's" after 100 requests
//   fixed-3000    the same z-test looked at once, at 3,000 requests per arm
//                 (80 % power for 2x at a 1 % baseline): valid, but blind until then
// Usage: canary_decision_sim [trials=2000] [seed=1]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "policies/metric_evaluator.h"

namespace {

struct Scenario {
  double p0;
  double ratio;
};

struct Tally {
  int trips = 0;
  std::vector<double> requests;  // per arm, at the trip
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int trials = argc > 1 ? std::atoi(argv[1]) : 2000;
  unsigned seed = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 1;
  const double alpha = 0.01;
  const double per_look = 100;    // requests per arm between looks (e.g. 20 req/s, a look every 5 s)
  const double horizon = 40'000;  // requests per arm before a canary is declared done
  const double min_requests = 500;
  std::vector<Scenario> scenarios;
  for (double p0 : {0.001, 0.01})
    for (double r : {1.0, 1.5, 2.0, 5.0}) scenarios.push_back({p0, r});

  std::printf("| baseline | ratio | rule | trips | median req/arm | p90 req/arm |\n|---|---|---|---|---|---|\n");
  std::mt19937_64 rng(seed);
  for (const auto& sc : scenarios) {
    double p1 = sc.p0 * sc.ratio;
    const char* names[] = {"mixture-SPRT", "wald-SPRT", "wald-known-p0", "fixed+peek", "naive-ratio", "fixed-3000"};
    Tally tally[6];
    double wald_r = sc.ratio > 1 ? sc.ratio : 2.0;  // under A/A, Wald tests against 2x
    for (int t = 0; t < trials; ++t) {
      double e1 = 0, e0 = 0, n = 0;
      bool done[6] = {false, false, false, false, false, false};
      double llr_known = 0;
      while (n < horizon && !(done[0] && done[1] && done[2] && done[3] && done[4] && done[5])) {
        std::binomial_distribution<int> b1(static_cast<int>(per_look), p1), b0(static_cast<int>(per_look), sc.p0);
        int d1 = b1(rng), d0 = b0(rng);
        e1 += d1;
        e0 += d0;
        n += per_look;
        double q1 = sc.p0 * wald_r;
        llr_known += d1 * std::log(q1 / sc.p0) + (per_look - d1) * std::log((1 - q1) / (1 - sc.p0));
        auto trip = [&](int i, bool cond) {
          if (!done[i] && cond) {
            done[i] = true;
            ++tally[i].trips;
            tally[i].requests.push_back(n);
          }
        };
        // 0: the guard's mixture test (with its minimum-sample guard)
        auto m = dg::canary_sequential_test(e1, n, e0, n, alpha);
        trip(0, m.reject && n >= min_requests);
        // 1: Wald SPRT on the same conditional binomial, true ratio known
        double th0 = 0.5, th1 = wald_r / (wald_r + 1);
        double llr = e1 * std::log(th1 / th0) + e0 * std::log((1 - th1) / (1 - th0));
        trip(1, llr >= std::log(1 / alpha));
        // 2: Wald SPRT with the baseline rate known exactly (canary arm only)
        trip(2, llr_known >= std::log(1 / alpha));
        // 3: two-proportion z-test, peeked at every look
        double pool = (e1 + e0) / (2 * n);
        double se = std::sqrt(pool * (1 - pool) * 2 / n);
        double z = se > 0 ? ((e1 - e0) / n) / se : 0;
        trip(3, z > 2.326);
        // 4: naive ratio rule
        trip(4, n >= 100 && e1 / n > 2 * std::max(e0 / n, 1e-9) && e1 >= 3);
        // 5: fixed horizon, one look
        if (n == 3000) trip(5, z > 2.326);
        else if (n > 3000) done[5] = true;
      }
    }
    for (int i = 0; i < 6; ++i) {
      std::printf("| %.1f%% | %.1fx | %s | %.2f%% | %.0f | %.0f |\n", sc.p0 * 100, sc.ratio, names[i],
                  100.0 * tally[i].trips / trials, quantile(tally[i].requests, 0.5), quantile(tally[i].requests, 0.9));
    }
  }
  return 0;
}
