#pragma once
/// http rollback: one request to a deploy system's API (e.g. "roll service X
/// back to the previous release"), with the rollback's timeout, an expected
/// status, and the answer journaled (redacted, bounded). Not retried: a
/// deploy API's POST is rarely idempotent, and a second rollback is not what
/// a failed one needs. `exit_code` holds the HTTP status (0: no answer).
#include <string>
#include <utility>
#include <vector>

#include "agent/core/http_client.h"
#include "agent/rollback/rollback_action.h"

namespace dg {

struct HttpRollbackSpec {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<int> expect_status;  ///< empty: any 2xx
  HttpRequest::Tls tls;
};

/// Registers the type with its config decoder.
void register_http_rollback(RollbackRegistry& registry);

}  // namespace dg
