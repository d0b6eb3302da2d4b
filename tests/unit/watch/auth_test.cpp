// bearer_token_ok: only "Bearer <the exact token>" opens a protected endpoint.
#include "agent/watch/auth.h"

#include <gtest/gtest.h>

namespace dg {
namespace {

TEST(BearerToken, ExactTokenMatches) {
  EXPECT_TRUE(bearer_token_ok("Bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(bearer_token_ok("bearer s3cret-token", "s3cret-token")) << "the scheme is case-insensitive";
  EXPECT_TRUE(bearer_token_ok("Bearer   s3cret-token ", "s3cret-token")) << "spaces around the token";
}

TEST(BearerToken, WrongTokenDoesNot) {
  EXPECT_FALSE(bearer_token_ok("Bearer s3cret-tokem", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearer S3CRET-TOKEN", "s3cret-token")) << "the token is case-sensitive";
}

TEST(BearerToken, EmptyExpectedTokenNeverMatches) {
  EXPECT_FALSE(bearer_token_ok("Bearer ", ""));
  EXPECT_FALSE(bearer_token_ok("Bearer x", ""));
  EXPECT_FALSE(bearer_token_ok("", ""));
}

TEST(BearerToken, EmptyOrMissingGivenTokenDoesNotMatch) {
  EXPECT_FALSE(bearer_token_ok("", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearer", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearer    ", "s3cret-token"));
}

TEST(BearerToken, PrefixesAndOtherLengthsDoNotMatch) {
  EXPECT_FALSE(bearer_token_ok("Bearer s3cret", "s3cret-token")) << "a prefix of the token";
  EXPECT_FALSE(bearer_token_ok("Bearer s3cret-token-and-more", "s3cret-token")) << "the token as a prefix";
  EXPECT_FALSE(bearer_token_ok("Bearer s", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearer " + std::string(4096, 'x'), "s3cret-token"));
}

TEST(BearerToken, OtherSchemesAndShapesDoNotMatch) {
  EXPECT_FALSE(bearer_token_ok("s3cret-token", "s3cret-token")) << "no scheme";
  EXPECT_FALSE(bearer_token_ok("Basic s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearers3cret-token", "s3cret-token")) << "no space after the scheme";
  EXPECT_FALSE(bearer_token_ok("Bearer\ts3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Token s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_ok("Bearer s3cret token", "s3cret-token"));
}

}  // namespace
}  // namespace dg
