#pragma once
/// Typed, validated probe definitions: the keys every probe has; each type's
/// own settings are decoded in its home. The config loader builds them; probe
/// code trusts them.
#include <string>

#include "agent/core/clock.h"
#include "agent/core/settings.h"

namespace dg {

struct ProbeSpec {
  std::string name;
  std::string digest;  ///< of its definition as written (see PolicySpec::digest)
  std::string type;  ///< a registered probe type (probes/registry.cpp)
  Duration interval{5000};
  Duration timeout{2000};
  std::string description;
  Settings kind;  ///< the type's own settings (e.g. HttpProbeSpec), decoded in its home
};

}  // namespace dg
