#pragma once
/// Token buckets keyed by client, for the listener's request-rate bounds.
/// Pure: time is an argument, so tests step it instead of sleeping. Not
/// thread-safe (the listener uses it on its loop's thread only).
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dg {

/// `per_second` tokens are added to a bucket of `burst` tokens; a request
/// takes one. per_second <= 0 means no bound.
struct RateLimit {
  double per_second = 0;
  double burst = 0;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  /// At most `max_clients` buckets are kept: when a new client would exceed
  /// that, buckets that have refilled (their client has been quiet) are
  /// dropped first, then the least recently used one. A dropped bucket
  /// starts full again, which only ever errs towards letting a request in.
  explicit RateLimiter(RateLimit limit, size_t max_clients = 4096);

  /// Takes a token for `client` at `now`. When the bucket is empty, takes
  /// nothing and returns how long until a token is there.
  std::optional<Clock::duration> take(std::string_view client, Clock::time_point now);

  bool unlimited() const { return limit_.per_second <= 0; }
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };
  void make_room(Clock::time_point now);

  RateLimit limit_;
  size_t max_clients_;
  std::unordered_map<std::string, Bucket> buckets_;
};

/// The key a client's requests are counted under: the address itself for
/// IPv4 (an IPv4-mapped IPv6 address counts as its IPv4 address), the /64
/// prefix for IPv6, since one host commonly holds a whole /64.
std::string rate_limit_key(std::string_view address);

}  // namespace dg
