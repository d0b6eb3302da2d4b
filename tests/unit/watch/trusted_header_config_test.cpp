// watch.trusted_user_header: off by default, an HTTP header name (kept
// lower-case, as the listener stores names), never one a browser or the
// client itself sets.
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

std::string config(const std::string& watch) {
  return R"([agent]
service = "s"
[probes.p]
type = "tcp"
host = "127.0.0.1"
port = 1
[policies.x]
probes = ["p"]
[[policies.x.actions]]
type = "flag"
provider = "f"
flag = "k"
[flag_providers.f]
type = "flagd-file"
path = "flags.json"
[watch]
)" + watch;
}

std::string diagnostics(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

TEST(TrustedUserHeader, OffByDefaultAndLowerCased) {
  test::TempDir dir;
  LoadResult off = load_config(dir.write("off.toml", config("port = 0\n")));
  ASSERT_TRUE(off.config) << diagnostics(off);
  EXPECT_EQ(off.config->watch.trusted_user_header, "");
  LoadResult on = load_config(dir.write("on.toml", config("trusted_user_header = \"X-Forwarded-User\"\n")));
  ASSERT_TRUE(on.config) << diagnostics(on);
  EXPECT_EQ(on.config->watch.trusted_user_header, "x-forwarded-user");
}

TEST(TrustedUserHeader, NotAHeaderNameOrOneTheClientSets) {
  test::TempDir dir;
  for (const char* bad : {"X Forwarded User", "", "X-User:", "Authorization", "cookie", "Host"}) {
    LoadResult r = load_config(dir.write("bad.toml", config(std::string("trusted_user_header = \"") + bad + "\"\n")));
    ASSERT_FALSE(r.config) << bad;
    EXPECT_NE(diagnostics(r).find("watch.trusted_user_header"), std::string::npos) << diagnostics(r);
  }
}

}  // namespace
}  // namespace dg
