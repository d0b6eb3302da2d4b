#pragma once
/// launchdarkly provider: LaunchDarkly's REST API v2 with semantic patches,
/// one flag in one environment. A kill for everyone is `turnFlagOff` (the
/// flag serves its off variation; idempotent). A kill for a segment is a
/// targeting rule whose clauses come from the segment expression
/// (flags/segment.h), placed before every other rule, serving the off
/// variation, and found again by its description, so a retry or a restart
/// never adds it twice. The state compared and journaled is the
/// environment's `on` and its rules (without LaunchDarkly's ids); restore
/// turns the flag back on and removes our rules. Writes compare the state
/// read just before (LaunchDarkly's semantic patch has no precondition: a
/// change in between is not seen). 409 (concurrent change), 429 and 5xx are
/// retried (agent/core/retry.h).
#include <boost/json/array.hpp>
#include <string>
#include <vector>

#include "agent/core/http_client.h"
#include "agent/core/retry.h"
#include "flags/flag_provider.h"

namespace dg {

struct LaunchDarklySpec {
  std::string api_token;  ///< secret; sent raw in Authorization
  std::string base_url = "https://app.launchdarkly.com";
  std::string project;
  std::string environment;
  std::string context_kind = "user";  ///< the clauses' contextKind
  Duration timeout{10'000};
  RetryPolicy retry;
  HttpRequest::Tls tls;
};

/// The rule clauses of a compiled segment (JsonLogic from compile_segment):
/// one array of clauses per rule (an `or` needs one rule per term, since a
/// rule's clauses are AND'ed). Error for JsonLogic it cannot express.
Result<std::vector<boost::json::array>> launchdarkly_clauses(const std::string& segment_jsonlogic,
                                                              const std::string& context_kind);

void register_launchdarkly_provider(FlagProviderRegistry& registry);

}  // namespace dg
