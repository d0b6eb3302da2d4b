#pragma once
/// unleash provider: a flag in one project and environment of an Unleash
/// server, through its admin API (v7). A flip for everyone disables the flag
/// in the environment (the kill switch); a flip for a segment excludes the
/// segment from every strategy of the flag there (unleash_state.h says how).
/// Compare before every write: the state is read and compared with the
/// caller's expected one, and each strategy edit is a JSON-Patch whose `test`
/// operations carry the values read, so a strategy someone changed meanwhile
/// is never overwritten (a conflict). Unleash flags are on/off: the change's
/// variant must be "off" (or "false"/"disabled").
#include <string>

#include "agent/core/http_client.h"
#include "flags/flag_provider.h"

namespace dg {

struct UnleashSpec {
  std::string url;  ///< base URL, e.g. https://unleash.example.com (no /api)
  std::string token;  ///< admin API token (a resolved secret)
  std::string project = "default";
  std::string environment;
  Duration timeout{5000};  ///< per HTTP call
  HttpRequest::Tls tls;
};

/// Registers the type with its config decoder.
void register_unleash_provider(FlagProviderRegistry& registry);

Result<std::unique_ptr<FlagProvider>> make_unleash_provider(const FlagProviderSpec& spec);

}  // namespace dg
