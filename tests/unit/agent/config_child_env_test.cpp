// agent.child_env and kill_grace: decoded, validated, and carried into every
// command probe and rollback.
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "agent/rollback/command_rollback.h"
#include "probes/command_probe.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

constexpr const char* kBase = R"(
[probes.migrations]
type = "command"
argv = ["./check.sh"]
kill_grace = "1500ms"

[rollbacks.previous]
type = "command"
argv = ["./rollback.sh"]

[policies.p]
probes = ["migrations"]
[[policies.p.actions]]
type = "rollback"
rollback = "previous"
)";

TEST(ConfigChildEnv, AllowListAndGraceReachEveryCommand) {
  test::TempDir dir;
  std::string path = dir.write("deployguard.toml", std::string("[agent]\nservice = \"wiki\"\nchild_env = [\"KUBECONFIG\", \"AWS_*\"]\n") + kBase);
  LoadResult r = load_config(path);
  ASSERT_TRUE(r.config) << (r.diagnostics.empty() ? "" : r.diagnostics.front().str());
  const auto& probe = r.config->probes.at(0).kind.as<CommandProbeSpec>();
  EXPECT_EQ(probe.pass_env, (std::vector<std::string>{"KUBECONFIG", "AWS_*"}));
  EXPECT_EQ(probe.kill_grace, Duration{1500});
  const auto& rb = r.config->rollbacks.at(0).kind.as<CommandRollbackSpec>();
  EXPECT_EQ(rb.pass_env, (std::vector<std::string>{"KUBECONFIG", "AWS_*"}));
  EXPECT_EQ(rb.kill_grace, Duration{3000}) << "the default grace";
}

TEST(ConfigChildEnv, BadNamesAndGracesAreErrors) {
  test::TempDir dir;
  std::string path = dir.write("deployguard.toml", std::string("[agent]\nservice = \"wiki\"\nchild_env = [\"OK_NAME\", \"NOT=OK\"]\n") +
                                                       kBase + "\n[rollbacks.previous2]\ntype = \"command\"\nargv = [\"x\"]\nkill_grace = \"0s\"\n");
  LoadResult r = load_config(path);
  EXPECT_FALSE(r.config);
  std::string all;
  for (const auto& d : r.diagnostics) all += d.str() + "\n";
  EXPECT_NE(all.find("agent.child_env[1]: \"NOT=OK\" is not an environment variable name"), std::string::npos) << all;
  EXPECT_NE(all.find("rollbacks.previous2.kill_grace"), std::string::npos) << all;
}

}  // namespace
}  // namespace dg
