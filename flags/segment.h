#pragma once
/// Segments: the users a flag change is limited to, written as a condition on
/// the evaluation context, e.g. `pluginCount == 0`,
/// `plan in ["free", "trial"] and pluginCount == 0`. Compiled to JsonLogic, the
/// targeting language of flagd/OpenFeature.
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg {

/// Returns the JsonLogic JSON text, or an error naming the offending column.
Result<std::string> compile_segment(std::string_view expression);

}  // namespace dg
