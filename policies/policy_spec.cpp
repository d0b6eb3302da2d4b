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

}  // namespace dg
