// The retry rules every remote client shares (contracts.md §0), and signing.
#include "agent/core/retry.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <thread>

#include "agent/core/http_client.h"
#include "agent/core/secrets.h"

namespace dg {

Attempt delivered(std::string detail) { return {Attempt::Kind::Delivered, std::move(detail), std::nullopt}; }
Attempt retry_later(std::string detail, std::optional<Duration> retry_after) {
  return {Attempt::Kind::Retry, std::move(detail), retry_after};
}
Attempt rejected(std::string detail) { return {Attempt::Kind::Rejected, std::move(detail), std::nullopt}; }

std::optional<Duration> parse_retry_after(std::string_view v, TimePoint wall_now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  long long secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec == std::errc{} && p == v.data() + v.size()) {
    if (secs < 0) return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::seconds(std::min<long long>(secs, 86'400)));
  }
  // HTTP-date: IMF-fixdate first (the only form senders may generate), then
  // the obsolete forms receivers must accept (RFC 9110 §5.6.7).
  std::string s(v);
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), fmt, &tm);
    if (end == nullptr || *end != '\0') continue;
    auto at = std::chrono::system_clock::from_time_t(::timegm(&tm));
    if (at <= wall_now) return Duration{0};
    return std::min(std::chrono::duration_cast<Duration>(at - wall_now), Duration{86'400'000});
  }
  return std::nullopt;
}

Attempt classify_http(const Result<HttpResponse>& r, TimePoint wall_now, std::initializer_list<int> also_retry) {
  if (!r) return retry_later(secrets::redact(r.error().message));
  int st = r->status;
  // Plain text (Slack), a JSON string (Alertmanager), HTML (a proxy): an
  // excerpt of whatever came, redacted before it is cut.
  std::string detail = r->body.empty() ? fmt::format("HTTP {}", st)
                                       : fmt::format("HTTP {}: {}", st, secrets::excerpt(r->body, 200));
  if (st >= 200 && st < 300) return delivered(fmt::format("HTTP {}", st));
  bool retry = st == 429 || st == 420 || st >= 500 ||
               std::find(also_retry.begin(), also_retry.end(), st) != also_retry.end();
  if (!retry) return rejected(detail + " (not retried)");
  std::optional<Duration> after;
  if (const std::string* ra = r->header("retry-after")) after = parse_retry_after(*ra, wall_now);
  return retry_later(detail, after);
}

Duration retry_delay(const RetryPolicy& p, int attempt, std::optional<Duration> retry_after, std::mt19937& rng) {
  Duration base = p.backoff;
  for (int k = 1; k < attempt && base < p.max_backoff; ++k) base *= 2;
  base = std::min(base, p.max_backoff);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto d = Duration(static_cast<long long>(static_cast<double>(base.count()) * jitter(rng)));
  // Jitter spreads retries out, but never earlier than Retry-After asked.
  if (retry_after) {
    Duration ra = std::min(*retry_after, p.max_retry_after);
    std::uniform_real_distribution<double> late(1.0, 1.1);
    d = std::max(d, Duration(static_cast<long long>(static_cast<double>(ra.count()) * late(rng))));
  }
  return d;
}

Attempt with_retries(const RetryPolicy& p, const std::function<Attempt()>& attempt, int* attempts) {
  std::mt19937 rng{std::random_device{}()};
  for (int n = 1;; ++n) {
    Attempt a = attempt();
    if (attempts) *attempts = n;
    if (a.ok() || a.kind == Attempt::Kind::Rejected) return a;
    if (n >= p.max_attempts) {
      a.detail = fmt::format("gave up after {} attempt(s): {}", n, a.detail);
      return a;
    }
    std::this_thread::sleep_for(retry_delay(p, n, a.retry_after, rng));
  }
}

std::string base64_encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ::HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out, &len);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", out[i]);
  return hex;
}

}  // namespace dg
