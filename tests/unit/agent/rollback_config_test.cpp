// The new plugin tables decode into their typed settings: the rollback check
// (shared by every type), the http rollback, the unleash and http providers.
#include <gtest/gtest.h>

#include <cstdlib>

#include "agent/config/config.h"
#include "agent/rollback/command_rollback.h"
#include "agent/rollback/http_rollback.h"
#include "flags/http/http_provider.h"
#include "flags/unleash/unleash_provider.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

const char* kConfig = R"(
[agent]
service = "wiki"

[probes.editor]
type = "http"
url = "http://127.0.0.1:8080/edit"

[policies.editor]
probes = ["editor"]
[[policies.editor.actions]]
type = "flag"
provider = "unleash"
flag = "connect-framework"
variant = "off"
segment = "pluginCount == 0"
[[policies.editor.actions]]
type = "rollback"
rollback = "api"

[flag_providers.unleash]
type = "unleash"
url = "https://unleash.example.com/"
token = "env:DG_TEST_UNLEASH_TOKEN"
environment = "production"
timeout = "3s"

[flag_providers.svc]
type = "http"
[flag_providers.svc.read]
url = "https://flags.example.com/{{flag}}"
state_pointer = "/state"
[flag_providers.svc.apply]
method = "PUT"
url = "https://flags.example.com/{{flag}}"
body = '{"v": "{{variant}}", "rule": {{segment_jsonlogic}}}'
expect_status = [200, 204]

[rollbacks.api]
type = "http"
url = "https://deploy.example.com/rollback"
expect_status = 202
timeout = "20s"
[rollbacks.api.check]
url = "https://wiki.example.com/version"
body_contains = "release 1"
within = "90s"
interval = "3s"

[rollbacks.helm]
type = "command"
argv = ["helm", "rollback", "wiki", "0"]
)";

TEST(PluginTables, DecodeIntoTheirSettings) {
  ::setenv("DG_TEST_UNLEASH_TOKEN", "*:*.unit-test-token", 1);
  test::TempDir dir;
  LoadResult r = load_config(dir.write("deployguard.toml", kConfig));
  ASSERT_TRUE(r.config) << (r.diagnostics.empty() ? "" : r.diagnostics.front().str());
  const Config& c = *r.config;
  ASSERT_EQ(c.flag_providers.size(), 2u);
  for (const auto& p : c.flag_providers) {
    if (p.type == "unleash") {
      const auto& u = p.kind.as<UnleashSpec>();
      EXPECT_EQ(u.token, "*:*.unit-test-token");
      EXPECT_EQ(u.project, "default");
      EXPECT_EQ(u.environment, "production");
      EXPECT_EQ(u.timeout, Duration{3000});
    } else {
      const auto& h = p.kind.as<HttpProviderSpec>();
      EXPECT_EQ(h.read.method, "GET");
      EXPECT_EQ(h.state_pointer, "/state");
      EXPECT_EQ(h.apply.method, "PUT");
      EXPECT_EQ(h.apply.expect_status, (std::vector<int>{200, 204}));
      EXPECT_FALSE(h.restore.has_value());
    }
  }
  ASSERT_EQ(c.rollbacks.size(), 2u);
  for (const auto& rb : c.rollbacks) {
    if (rb.type == "http") {
      const auto& h = rb.kind.as<HttpRollbackSpec>();
      EXPECT_EQ(h.method, "POST");
      EXPECT_EQ(h.expect_status, std::vector<int>{202});
      EXPECT_EQ(rb.timeout, Duration{20'000});
      ASSERT_TRUE(rb.check.has_value());
      EXPECT_EQ(rb.check->request.url, "https://wiki.example.com/version");
      EXPECT_EQ(rb.check->expect_status, std::vector<int>{200});
      EXPECT_EQ(rb.check->body_contains, std::vector<std::string>{"release 1"});
      EXPECT_EQ(rb.check->within, Duration{90'000});
      EXPECT_EQ(rb.check->interval, Duration{3000});
    } else {
      EXPECT_FALSE(rb.check.has_value());
      EXPECT_EQ(rb.kind.as<CommandRollbackSpec>().argv.front(), "helm");
    }
  }
}

}  // namespace
}  // namespace dg
