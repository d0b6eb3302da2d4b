#pragma once
/// What a canary condition's four cumulative counters added since counting
/// began, per series: one restarted pod (a counter reset) adds only what it
/// counted since, never the other pods' history; a series present at the
/// first look starts from there, one that appears later started later (from
/// zero). Pure: the driver reads, this counts and folds the test.
#include <array>
#include <map>
#include <string>
#include <vector>

#include "agent/core/metric_reading.h"
#include "policies/canary_test.h"

namespace dg {

/// One counter query's series across looks.
struct SeriesCounter {
  struct Count {
    double last = 0;     ///< the raw counter value at the previous look
    double counted = 0;  ///< what it added since counting began
  };
  std::map<std::string, Count> series;  ///< by labels_key
  /// Folds one look. On the first look every series present is a base.
  void add(const std::vector<SeriesValue>& values, bool first);
  double counted() const;
};

/// The arms of a canary condition, in the order of a look.
enum CanaryArm { kCanaryErrors, kCanaryTotal, kBaselineErrors, kBaselineTotal };

/// One canary condition's counting and test state across looks.
struct CanaryCounter {
  explicit CanaryCounter(double max_ratio) : test(canary_start(max_ratio)) {}
  std::array<SeriesCounter, 4> arms;
  bool started = false;  ///< the first look (the bases) has been taken
  CanaryState test;
  /// One look: each arm's series, all read at one instant. The first look
  /// sets the bases; every later one folds what the arms added since the
  /// previous look into the test.
  void look(const std::array<const std::vector<SeriesValue>*, 4>& series);
};

}  // namespace dg
