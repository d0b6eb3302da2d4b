#pragma once
/// The read-back check of a rollback ("is the previous release serving
/// now?"): an HTTP request asked again every `interval` until its answer has
/// the expected status and text, or `within` has passed. Shared by every
/// rollback type: decoded once from the `check` sub-table by the loader's
/// read_rollback, run after the action succeeded (by the registry's wrapper,
/// so each type gets it without knowing).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/async_io.h"
#include "agent/core/http_client.h"

namespace dg {

class ConfigReader;

struct RollbackCheckSpec {
  HttpRequest request;  ///< method GET by default; request.timeout bounds one attempt
  std::vector<int> expect_status{200};
  std::vector<std::string> body_contains;
  Duration within{60'000};   ///< give up when the check has not passed by then
  Duration interval{2'000};  ///< between attempts
};

struct RollbackCheckResult {
  bool ok = false;
  int attempts = 0;
  int last_status = 0;  ///< 0: no answer
  Duration elapsed{0};
  std::string detail;  ///< redacted, bounded: why the last attempt failed, or what passed
};

/// The `check` table's keys (url, method, headers, expect_status, body_contains,
/// within, interval, timeout, ca_file, client_cert, client_key).
void decode_rollback_check(ConfigReader& r, RollbackCheckSpec& spec);

/// Blocking: retries until it passes or `within` is spent.
RollbackCheckResult run_rollback_check(const RollbackCheckSpec& spec);
/// On the loop (a timer between attempts, AsyncHttp for each): `done` once, on the loop's thread.
void start_rollback_check(AsyncIo& io, std::shared_ptr<const RollbackCheckSpec> spec,
                          std::function<void(RollbackCheckResult)> done);

/// One line for the journal and the report: "check passed after 2 attempts (HTTP 200)".
std::string describe_check(const RollbackCheckResult& r);

}  // namespace dg
