// Sink and provider homes decode their keys through the loader: defaults,
// file: secrets relative to the config file, and each type's own checks.
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "agent/core/secrets.h"
#include "agent/incidents/sinks/alertmanager_sink.h"
#include "agent/incidents/sinks/webhook_sink.h"
#include "flags/launchdarkly/launchdarkly.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

const char* kBase = R"([agent]
service = "wiki"

[probes.editor]
type = "http"
url = "http://127.0.0.1:9/edit"

[policies.editor]
probes = ["editor"]
[[policies.editor.actions]]
type = "flag"
provider = "ld"
flag = "connect-framework"

[flag_providers.ld]
type = "launchdarkly"
api_token = "file:ld-token"
project = "wiki"
environment = "production"
)";

LoadResult load(test::TempDir& dir, const std::string& extra) {
  dir.write("ld-token", "api-0123-ldtoken\n");
  dir.write("hook-secret", "whsec-abcdef\n");
  return load_config(dir.write("deployguard.toml", std::string(kBase) + extra));
}

std::string diagnostics(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

TEST(SinkConfig, AlertmanagerWebhookAndLaunchDarklyDecode) {
  test::TempDir dir;
  auto r = load(dir, R"(
[incident_sinks.am]
type = "alertmanager"
url = "http://127.0.0.1:9093"
ttl = "20m"
resend_every = "2m"
heartbeat = "1m"
labels = { team = "platform" }

[incident_sinks.hook]
type = "webhook"
url = "https://hooks.example.com/x"
signing_secret = "file:hook-secret"
heartbeat = "30s"
)");
  ASSERT_TRUE(r.config) << diagnostics(r);
  const auto& am = r.config->incident_sinks[0].kind.as<AlertmanagerSinkSpec>();
  EXPECT_EQ(am.ttl, Duration{20 * 60'000});
  EXPECT_EQ(am.resend_every, Duration{120'000});
  EXPECT_EQ(am.heartbeat, Duration{60'000});
  ASSERT_EQ(am.labels.size(), 1u);
  const auto& hook = r.config->incident_sinks[1].kind.as<WebhookSinkSpec>();
  EXPECT_EQ(hook.signing_secret, "whsec-abcdef");
  EXPECT_EQ(hook.heartbeat, Duration{30'000});
  const auto& ld = r.config->flag_providers[0].kind.as<LaunchDarklySpec>();
  EXPECT_EQ(ld.api_token, "api-0123-ldtoken") << "file: read, relative to the config, newline trimmed";
  EXPECT_EQ(ld.base_url, "https://app.launchdarkly.com");
  EXPECT_EQ(secrets::redact("t=api-0123-ldtoken"), "t=[REDACTED]");
}

TEST(SinkConfig, EachTypeChecksItsOwnKeys) {
  test::TempDir dir;
  auto r = load(dir, R"(
[incident_sinks.am]
type = "alertmanager"
url = "http://127.0.0.1:9093"
ttl = "1m"
resend_every = "2m"

[incident_sinks.jira]
type = "jira"
base_url = "https://example.atlassian.net"
email = "a@example.com"
api_token = "env:DG_TEST_UNSET_JIRA_TOKEN"

[incident_sinks.hook]
type = "webhook"
url = "https://hooks.example.com/x"
signing_secret = "literal-secret-value"

[incident_sinks.pd]
type = "pagerduty"
routing_key = "file:missing-key"
severity = "critcal"
)");
  ASSERT_FALSE(r.config);
  std::string d = diagnostics(r);
  EXPECT_NE(d.find("resend_every"), std::string::npos) << d;
  EXPECT_NE(d.find("project"), std::string::npos) << d;
  EXPECT_NE(d.find("DG_TEST_UNSET_JIRA_TOKEN is not set"), std::string::npos) << d;
  EXPECT_NE(d.find("literal secret"), std::string::npos) << d;
  EXPECT_EQ(d.find("literal-secret-value"), std::string::npos) << "never echoed: " << d;
  EXPECT_NE(d.find("cannot read secret file"), std::string::npos) << d;
  EXPECT_NE(d.find("did you mean 'critical'"), std::string::npos) << d;
}

}  // namespace
}  // namespace dg
