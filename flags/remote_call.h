#pragma once
/// One blocking HTTP call to a flag service, retried the way the services
/// expect (network errors, 429 and 5xx; exponential backoff with jitter,
/// honouring Retry-After in seconds), within a bounded number of attempts.
/// Blocking: for FlagProvider implementations, which are blocking.
#include <functional>

#include "agent/core/http_client.h"

namespace dg {

struct RetryPolicy {
  int attempts = 3;
  Duration first_backoff{200};
  Duration max_backoff{2000};
  /// A response that must not be retried although its status says so (e.g.
  /// Unleash's 500 for a failed JSON-Patch `test`: a conflict, not an outage).
  std::function<bool(const HttpResponse&)> final_answer;
};

Result<HttpResponse> perform_with_retries(const HttpRequest& request, const RetryPolicy& policy = {});

}  // namespace dg
