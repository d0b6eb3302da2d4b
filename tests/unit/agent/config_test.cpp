// Config diagnostics as golden files: every tests/data/config/invalid/*.toml
// has a .expected file with exactly the diagnostics `check` must print.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "agent/config/config.h"
#include "flags/flagd_file.h"
#include "probes/command_probe.h"
#include "probes/http_probe.h"
#include "probes/metrics/scrape_source.h"
#include "agent/core/secrets.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

namespace fs = std::filesystem;
const std::string kData = DG_TEST_DATA_DIR "/config";

std::string render(const LoadResult& r, const std::string& strip) {
  std::string out;
  for (const auto& d : r.diagnostics) {
    std::string line = d.str();
    for (size_t pos; !strip.empty() && (pos = line.find(strip)) != std::string::npos;) line.erase(pos, strip.size());
    out += line + "\n";
  }
  return out;
}

TEST(ConfigGolden, EveryInvalidFileMatchesItsExpectedDiagnostics) {
  ::unsetenv("DG_TEST_UNSET_VARIABLE");
  ::unsetenv("DG_TEST_UNSET_HOOK_URL");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kData + "/invalid")) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    auto expected_path = entry.path();
    expected_path.replace_extension(".expected");
    ASSERT_TRUE(fs::exists(expected_path)) << "missing golden file " << expected_path;
    LoadResult r = load_config(entry.path().string());
    EXPECT_FALSE(r.config.has_value());
    EXPECT_FALSE(r.diagnostics.empty());
    EXPECT_EQ(render(r, kData + "/invalid/"), test::slurp(expected_path.string()));
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(ConfigValid, MinimalConfigGetsDefaults) {
  LoadResult r = load_config(kData + "/valid/minimal.toml");
  ASSERT_TRUE(r.config) << (r.diagnostics.empty() ? "" : r.diagnostics.front().str());
  const Config& c = *r.config;
  EXPECT_EQ(c.agent.service, "wiki");
  EXPECT_EQ(c.agent.environment, "production");
  EXPECT_EQ(c.agent.bake, Duration{120'000});
  EXPECT_TRUE(fs::path(c.agent.journal).is_absolute());
  ASSERT_EQ(c.probes.size(), 1u);
  EXPECT_EQ(c.probes[0].interval, Duration{5000});
  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0].consecutive_failures, 3);
  const auto& flag = std::get<FlagActionSpec>(c.policies[0].actions[0].kind);
  EXPECT_EQ(flag.variant, "off");
  EXPECT_EQ(flag.segment_jsonlogic, R"({"and":[{"!==":[{"var":"pluginCount"},null]},{"===":[{"var":"pluginCount"},0]}]})");
  // No sink configured: the file sink is the default.
  ASSERT_EQ(c.incident_sinks.size(), 1u);
  EXPECT_EQ(c.incident_sinks[0].type, "file");
  const auto& provider = c.flag_providers[0].kind.as<FlagdFileSpec>();
  EXPECT_EQ(provider.path, kData + "/valid/flags.json");
}

TEST(ConfigValid, FullConfigWithIncludesDecodesEveryKey) {
  ::setenv("DG_TEST_TOKEN", "tok-123456", 1);
  LoadResult r = load_config(kData + "/valid/with_include.toml");
  ASSERT_TRUE(r.config) << (r.diagnostics.empty() ? "" : r.diagnostics.front().str());
  const Config& c = *r.config;
  EXPECT_EQ(c.files.size(), 2u);
  EXPECT_TRUE(c.agent.dry_run);
  EXPECT_EQ(c.agent.bake, Duration{90'000});
  const auto& http = c.probe("editor")->kind.as<HttpProbeSpec>();
  EXPECT_EQ(http.method, "POST");
  EXPECT_FALSE(http.verify_tls);
  ASSERT_EQ(http.expect.status.size(), 3u);
  EXPECT_EQ(http.expect.status[1].lo, 300);
  EXPECT_EQ(http.expect.status[2].hi, 499);
  EXPECT_EQ(http.expect.json_equals.size(), 2u);
  bool has_auth = false;
  for (const auto& [k, v] : http.headers) has_auth |= k == "Authorization" && v == "tok-123456";
  EXPECT_TRUE(has_auth) << "env: reference must be resolved";
  const auto& cmd = c.probe("browser")->kind.as<CommandProbeSpec>();
  EXPECT_EQ(cmd.argv.size(), 4u);
  EXPECT_EQ(c.probe("browser")->timeout, Duration{20'000});
  const PolicySpec* editor = nullptr;
  for (const auto& p : c.policies)
    if (p.name == "editor") editor = &p;
  ASSERT_NE(editor, nullptr);
  EXPECT_EQ(editor->consecutive_failures, 0) << "a window alone replaces the default streak rule";
  EXPECT_EQ(editor->window_failures, 3);
  EXPECT_EQ(editor->window_runs, 5);
  EXPECT_EQ(editor->on_errors, OnErrors::Trip);
  EXPECT_EQ(editor->actions.size(), 2u);
  EXPECT_EQ(c.incident_sinks.size(), 2u);
  // The secret is registered for redaction.
  EXPECT_EQ(secrets::redact("Authorization: tok-123456"), "Authorization: [REDACTED]");
}

TEST(ConfigSecrets, MissingVariableNamesItButNeverAValue) {
  test::TempDir dir;
  ::setenv("DG_TEST_PRESENT_SECRET", "very-secret-value-42", 1);
  ::unsetenv("DG_TEST_ABSENT");
  std::string path = dir.write("c.toml", R"([agent]
service = "s"
[probes.p]
type = "http"
url = "env:DG_TEST_ABSENT"
headers = { "X-Api-Key" = "env:DG_TEST_PRESENT_SECRET" }
[probes.p.expect]
status = 999
[policies.x]
probes = ["p"]
[[policies.x.actions]]
type = "rollback"
rollback = "r"
[rollbacks.r]
type = "command"
argv = ["true"]
)");
  LoadResult r = load_config(path);
  ASSERT_FALSE(r.config);
  std::string all = render(r, "");
  EXPECT_NE(all.find("environment variable DG_TEST_ABSENT is not set"), std::string::npos) << all;
  EXPECT_EQ(all.find("very-secret-value-42"), std::string::npos) << all;
}

TEST(ConfigSecrets, UrlWithSecretIsNeverEchoedInDiagnostics) {
  test::TempDir dir;
  ::setenv("DG_TEST_URL_SECRET", "ftp://user:hunter2-secret@host/x", 1);
  std::string path = dir.write("c.toml", R"([agent]
service = "s"
[probes.p]
type = "http"
url = "env:DG_TEST_URL_SECRET"
[policies.x]
probes = ["p"]
[[policies.x.actions]]
type = "rollback"
rollback = "r"
[rollbacks.r]
type = "command"
argv = ["true"]
)");
  LoadResult r = load_config(path);
  ASSERT_FALSE(r.config);
  EXPECT_EQ(render(r, "").find("hunter2"), std::string::npos);
}

TEST(ConfigPaths, RelativePathsResolveAgainstTheirOwnFile) {
  test::TempDir dir;
  fs::create_directories(dir.file("sub"));
  dir.write("sub/extra.toml", R"([flag_providers.f]
type = "flagd-file"
path = "flags.json"
)");
  std::string path = dir.write("main.toml", R"(include = ["sub/*.toml"]
[agent]
service = "s"
journal = "j/journal.jsonl"
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
)");
  LoadResult r = load_config(path);
  ASSERT_TRUE(r.config) << render(r, "");
  EXPECT_EQ(r.config->flag_providers[0].kind.as<FlagdFileSpec>().path, dir.file("sub/flags.json"));
  EXPECT_EQ(r.config->agent.journal, dir.file("j/journal.jsonl"));
}

// Exposition limits of a scrape source: decoded, bounded, defaults otherwise.
TEST(ConfigValid, ScrapeSourceExpositionLimits) {
  test::TempDir dir;
  std::string base = R"([agent]
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
)";
  std::string path = dir.write("c.toml", base + R"([metric_sources.app]
type = "scrape"
url = "http://127.0.0.1:8080/metrics"
max_labels_per_sample = 64
max_label_name_length = 100
max_label_value_length = 2048
max_series = 50000
max_line_length = 65536
[metric_sources.plain]
type = "scrape"
url = "http://127.0.0.1:8081/metrics"
)");
  LoadResult r = load_config(path);
  ASSERT_TRUE(r.config) << render(r, "");
  const auto& l = r.config->metric_sources[0].kind.as<ScrapeSourceSpec>().limits;
  EXPECT_EQ(l.max_labels_per_sample, 64u);
  EXPECT_EQ(l.max_label_name_length, 100u);
  EXPECT_EQ(l.max_label_value_length, 2048u);
  EXPECT_EQ(l.max_series, 50000u);
  EXPECT_EQ(l.max_line_length, 65536u);
  const auto& d = r.config->metric_sources[1].kind.as<ScrapeSourceSpec>().limits;
  EXPECT_EQ(d.max_series, ExpositionLimits{}.max_series);

  std::string bad = dir.write("bad.toml", base + R"([metric_sources.app]
type = "scrape"
url = "http://127.0.0.1:8080/metrics"
max_series = 0
)");
  LoadResult b = load_config(bad);
  ASSERT_FALSE(b.config);
  EXPECT_NE(render(b, "").find("max_series"), std::string::npos) << render(b, "");
  EXPECT_NE(render(b, "").find("out of range"), std::string::npos) << render(b, "");
}

TEST(ConfigErrors, MissingFileIsADiagnostic) {
  LoadResult r = load_config("/nonexistent/deployguard.toml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].str().find("/nonexistent/deployguard.toml:1:1"), std::string::npos);
}

}  // namespace
}  // namespace dg
