#include "agent/watch/rate_limit.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dg {

RateLimiter::RateLimiter(RateLimit limit, size_t max_clients)
    : limit_(limit), max_clients_(std::max<size_t>(max_clients, 1)) {
  // A burst below one token would refuse everything.
  limit_.burst = std::max(limit_.burst, 1.0);
}

std::optional<RateLimiter::Clock::duration> RateLimiter::take(std::string_view client, Clock::time_point now) {
  if (unlimited()) return std::nullopt;
  auto it = buckets_.find(std::string(client));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) make_room(now);
    it = buckets_.emplace(std::string(client), Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  double wait = (1 - b.tokens) / limit_.per_second;
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
}

void RateLimiter::make_room(Clock::time_point now) {
  // Refilled buckets carry no information: their client would start full anyway.
  auto refill_time = std::chrono::duration<double>(limit_.burst / limit_.per_second);
  std::erase_if(buckets_, [&](const auto& kv) {
    return now - kv.second.last >= std::chrono::duration_cast<Clock::duration>(refill_time);
  });
  if (buckets_.size() < max_clients_) return;
  auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                 [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
  buckets_.erase(oldest);
}

std::string rate_limit_key(std::string_view address) {
  std::string text(address);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;  // IPv4, or not an address
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char out[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(v6.s6_addr, kMapped, sizeof kMapped) == 0) {
    ::inet_ntop(AF_INET, v6.s6_addr + 12, out, sizeof out);
    return out;
  }
  std::memset(v6.s6_addr + 8, 0, 8);
  ::inet_ntop(AF_INET6, &v6, out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace dg
