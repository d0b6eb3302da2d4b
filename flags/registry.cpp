#include "flags/flag_provider.h"
#include "flags/flagd_file.h"
#include "flags/http/http_provider.h"
#include "flags/unleash/unleash_provider.h"

#include <boost/json.hpp>

#include "agent/core/json_text.h"

namespace dg {

bool same_state(const FlagSnapshot& a, const FlagSnapshot& b) {
  if (a.flag != b.flag) return false;
  if (a.state_json == b.state_json) return true;
  // JSON equality: object key order and whitespace do not make a new state.
  auto x = parse_json(a.state_json);
  auto y = parse_json(b.state_json);
  return x && y && *x == *y;
}

// The built-in provider types; each registers its factory and config decoder
// in its own home.
void register_builtin_flag_providers(FlagProviderRegistry& registry) {
  register_flagd_file_provider(registry);
  register_http_provider(registry);
  register_unleash_provider(registry);
}

const FlagProviderRegistry& builtin_flag_providers() { return built_in_once(register_builtin_flag_providers); }

}  // namespace dg
