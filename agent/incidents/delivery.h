#pragma once
/// Delivery: the one retry engine of every incident sink. A sink makes a
/// single attempt and says what happened (delivered / worth retrying, maybe
/// with the server's Retry-After / rejected for good); this module turns HTTP
/// answers into that, computes the backoff (exponential, with jitter, never
/// earlier than Retry-After asked) and signs webhook bodies. Pure functions
/// apart from hmac_sha256_hex (OpenSSL); thread-safe.
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
struct SinkAttempt {
  enum class Kind { Delivered, Retry, Rejected };
  Kind kind = Kind::Rejected;
  std::string detail;  ///< redacted: it is journaled and logged as it is
  std::optional<Duration> retry_after;  ///< the server's Retry-After, when it sent one
  bool ok() const { return kind == Kind::Delivered; }
};
SinkAttempt delivered(std::string detail);
SinkAttempt retry_later(std::string detail, std::optional<Duration> retry_after = std::nullopt);
SinkAttempt rejected(std::string detail);

/// Retry-After as delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 and
/// asctime forms), relative to `wall_now`; a date in the past is 0.
std::optional<Duration> parse_retry_after(std::string_view value, TimePoint wall_now);

/// The cross-cutting rules (contracts §0): 2xx delivered; a transport error,
/// 429 and 5xx retried (with Retry-After); other 4xx rejected, except the
/// statuses in `also_retry` (LaunchDarkly's 409). The detail carries the
/// status and a redacted excerpt of the body, whatever its format.
SinkAttempt classify_http(const Result<HttpResponse>& r, TimePoint wall_now, std::initializer_list<int> also_retry = {});

/// The delay before attempt `attempt + 1` (attempt counts from 1): backoff ×
/// 2^(attempt-1) capped, jittered ±20 %; at least the (capped) Retry-After.
Duration retry_delay(const RetryPolicy& p, int attempt, std::optional<Duration> retry_after, std::mt19937& rng);

/// Standard base64 with padding (HTTP Basic credentials).
std::string base64_encode(std::string_view data);

/// Lowercase hex HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace dg
