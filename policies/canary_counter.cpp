#include "policies/canary_counter.h"

namespace dg {

void SeriesCounter::add(const std::vector<SeriesValue>& values, bool first) {
  for (const auto& v : values) {
    auto [it, is_new] = series.try_emplace(labels_key(v.labels), Count{v.value, first ? 0.0 : v.value});
    if (is_new) continue;
    // A drop is a reset: the series restarted from zero and counted v since.
    it->second.counted += v.value >= it->second.last ? v.value - it->second.last : v.value;
    it->second.last = v.value;
  }
}

double SeriesCounter::counted() const {
  double sum = 0;
  for (const auto& [k, c] : series) sum += c.counted;
  return sum;
}

void CanaryCounter::look(const std::array<const std::vector<SeriesValue>*, 4>& values) {
  bool first = !started;
  started = true;
  std::array<double, 4> before{}, after{};
  for (size_t i = 0; i < 4; ++i) {
    before[i] = arms[i].counted();
    if (values[i]) arms[i].add(*values[i], first);
    after[i] = arms[i].counted();
  }
  ArmCounts inc{.canary_errors = after[kCanaryErrors] - before[kCanaryErrors],
                .canary_total = after[kCanaryTotal] - before[kCanaryTotal],
                .baseline_errors = after[kBaselineErrors] - before[kBaselineErrors],
                .baseline_total = after[kBaselineTotal] - before[kBaselineTotal]};
  test = canary_fold(std::move(test), inc);
}

}  // namespace dg
