// Token buckets in stepped time: burst, refill, the wait told to a refused
// client, the bound on tracked clients, and the key a client is counted under.
#include "agent/watch/rate_limit.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace dg {
namespace {

using Clock = RateLimiter::Clock;

TEST(RateLimiter, BurstThenRefusedWithTheWaitForTheNextToken) {
  RateLimiter limiter({/*per_second=*/2, /*burst=*/3});
  Clock::time_point t{};
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.take("a", t)) << i;
  auto wait = limiter.take("a", t);
  ASSERT_TRUE(wait);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*wait), 500ms);
  // Half a token later: still refused, the wait shrank.
  wait = limiter.take("a", t + 250ms);
  ASSERT_TRUE(wait);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*wait), 250ms);
  EXPECT_FALSE(limiter.take("a", t + 500ms));
  EXPECT_TRUE(limiter.take("a", t + 500ms));
}

TEST(RateLimiter, ClientsHaveTheirOwnBuckets) {
  RateLimiter limiter({1, 1});
  Clock::time_point t{};
  EXPECT_FALSE(limiter.take("a", t));
  EXPECT_TRUE(limiter.take("a", t));
  EXPECT_FALSE(limiter.take("b", t));
}

TEST(RateLimiter, RefillStopsAtTheBurst) {
  RateLimiter limiter({10, 2});
  Clock::time_point t{};
  EXPECT_FALSE(limiter.take("a", t));
  // An hour of quiet buys two requests, not 36,000.
  t += 1h;
  EXPECT_FALSE(limiter.take("a", t));
  EXPECT_FALSE(limiter.take("a", t));
  EXPECT_TRUE(limiter.take("a", t));
}

TEST(RateLimiter, ZeroRateIsUnlimited) {
  RateLimiter limiter({0, 0});
  Clock::time_point t{};
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.take("a", t));
  EXPECT_EQ(limiter.tracked(), 0u);
}

TEST(RateLimiter, TrackedClientsStayBounded) {
  RateLimiter limiter({1, 5}, /*max_clients=*/8);
  Clock::time_point t{};
  for (int i = 0; i < 100; ++i) {
    limiter.take("c" + std::to_string(i), t);
    t += 1ms;
    ASSERT_LE(limiter.tracked(), 8u);
  }
  // The busy client that exhausted its bucket a moment ago is still tracked
  // while quiet ones are dropped.
  RateLimiter busy({1, 1}, 2);
  EXPECT_FALSE(busy.take("busy", t));
  EXPECT_FALSE(busy.take("quiet", t - 10s));
  EXPECT_FALSE(busy.take("new", t));  // "quiet" has refilled: it goes
  EXPECT_TRUE(busy.take("busy", t));
}

TEST(RateLimitKey, Ipv4AndMappedAreTheAddressIpv6IsItsSlash64) {
  EXPECT_EQ(rate_limit_key("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(rate_limit_key("::ffff:10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(rate_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(rate_limit_key("2001:db8:1:2::1"), rate_limit_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(rate_limit_key("2001:db8:1:2::1"), rate_limit_key("2001:db8:1:3::1"));
  EXPECT_EQ(rate_limit_key("::1"), "::/64");
}

}  // namespace
}  // namespace dg
