#include "policies/policy_spec.h"

#include <fmt/format.h>

namespace dg {

std::string ActionSpec::describe() const {
  if (const auto* f = std::get_if<FlagActionSpec>(&kind)) {
    if (f->segment.empty()) return fmt::format("set flag {} to \"{}\" for everyone", f->flag, f->variant);
    return fmt::format("set flag {} to \"{}\" for {}", f->flag, f->variant, f->segment);
  }
  return fmt::format("run rollback {}", std::get<RollbackActionSpec>(kind).rollback);
}

std::string MetricCondition::describe() const {
  if (!log.empty()) return query.text();  // the log condition's own words
  switch (kind) {
    case Kind::Threshold: {
      std::string cmp = above ? fmt::format("above {}", *above) : fmt::format("below {}", below.value_or(0));
      return fmt::format("{} {}{}", query.text(), cmp,
                         hold_for.count() ? fmt::format(" for {}ms", hold_for.count()) : "");
    }
    case Kind::Baseline:
      return fmt::format("{} rises more than {}{} over its value before the release", query.text(),
                         increase_relative ? max_increase * 100 : max_increase, increase_relative ? "%" : "");
    case Kind::Canary:
      return fmt::format("canary error rate above baseline (sequential test, alpha {})", alpha);
    case Kind::Compare:
      return fmt::format("{} exceeds {} by more than {}{}", query.text(), baseline_query.text(),
                         increase_relative ? max_increase * 100 : max_increase, increase_relative ? "%" : "");
  }
  return id;
}

}  // namespace dg
