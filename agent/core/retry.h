#pragma once
/// Retry: the one set of retry rules of every client of a remote service
/// (incident sinks through the notifier, flag services). A caller makes a
/// single attempt and says what happened (delivered / worth retrying, maybe
/// with the server's Retry-After / rejected for good); this module turns HTTP
/// answers into that, computes the backoff (exponential, with jitter, never
/// earlier than Retry-After asked), and signs bodies (HMAC-SHA256). Pure
/// functions apart from hmac_sha256_hex (OpenSSL); thread-safe.
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

struct HttpResponse;

struct RetryPolicy {
  int max_attempts = 4;
  Duration backoff{500};       ///< first retry delay; doubles, with jitter
  Duration max_backoff{30'000};
  Duration max_retry_after{60'000};  ///< a longer Retry-After is capped (the queue must move)
};

/// One attempt's result.
struct Attempt {
  enum class Kind { Delivered, Retry, Rejected };
  Kind kind = Kind::Rejected;
  std::string detail;  ///< redacted: it is journaled and logged as it is
  std::optional<Duration> retry_after;  ///< the server's Retry-After, when it sent one
  bool ok() const { return kind == Kind::Delivered; }
};
Attempt delivered(std::string detail);
Attempt retry_later(std::string detail, std::optional<Duration> retry_after = std::nullopt);
Attempt rejected(std::string detail);

/// Retry-After as delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 and
/// asctime forms), relative to `wall_now`; a date in the past is 0.
std::optional<Duration> parse_retry_after(std::string_view value, TimePoint wall_now);

/// The cross-cutting rules (contracts §0): 2xx delivered; a transport error,
/// 429 and 5xx retried (with Retry-After); other 4xx rejected, except the
/// statuses in `also_retry` (LaunchDarkly's 409). The detail carries the
/// status and a redacted excerpt of the body, whatever its format.
Attempt classify_http(const Result<HttpResponse>& r, TimePoint wall_now, std::initializer_list<int> also_retry = {});

/// The delay before attempt `attempt + 1` (attempt counts from 1): backoff ×
/// 2^(attempt-1) capped, jittered ±20 %; at least the (capped) Retry-After.
Duration retry_delay(const RetryPolicy& p, int attempt, std::optional<Duration> retry_after, std::mt19937& rng);

/// Standard base64 with padding (HTTP Basic credentials).
std::string base64_encode(std::string_view data);

/// Runs `attempt` until it is delivered, rejected or `p.max_attempts` ran
/// out, sleeping retry_delay() between tries on this thread (callers without
/// a notifier: flag providers). The result's detail says how many attempts.
Attempt with_retries(const RetryPolicy& p, const std::function<Attempt()>& attempt, int* attempts = nullptr);

/// Lowercase hex HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace dg
