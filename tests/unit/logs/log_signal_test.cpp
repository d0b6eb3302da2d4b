// Log sources and conditions from the config, and a log condition read as a
// signal: the file's history is the baseline, lines after the first read are
// judged, a release announced later moves the window, and the miner's state
// survives a checkpoint (signature ids kept).
#include <gtest/gtest.h>

#include <fstream>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "logs/config.h"
#include "logs/log_signal.h"
#include "tests/support/temp_dir.h"

namespace dg::logs {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(
[agent]
service = "wiki"

[probes.editor]
type = "http"
url = "http://127.0.0.1:8080/edit?tenant=acme"

[policies.editor]
probes = ["editor"]
[[policies.editor.logs]]
name = "fresh_errors"
source = "app"
condition = "new_signature"
baseline = "1m"
step = "1s"
[[policies.editor.logs]]
source = "app"
condition = "surge"
alpha = 0.05
min_ratio = 2
[[policies.editor.actions]]
type = "flag"
provider = "flags"
flag = "connect-framework"

[flag_providers.flags]
type = "flagd-file"
path = "flags.json"

[log_sources.app]
type = "file"
paths = ["app.log"]
header = "iso8601-level"
similarity = 0.6
masks = ["tenant-[a-z]+"]
)";

TEST(LogConfig, SourcesAndConditionsDecodeInTheirHome) {
  test::TempDir dir;
  auto loaded = load_config(dir.write("dg.toml", kConfig));
  ASSERT_TRUE(loaded.config) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message);
  const Config& cfg = *loaded.config;
  ASSERT_EQ(cfg.log_sources.size(), 1u);
  const LogSourceSpec& s = cfg.log_sources[0];
  EXPECT_EQ(s.type, "file");
  EXPECT_EQ(std::get<FileSourceSpec>(s.kind).paths.at(0), dir.file("app.log")) << "relative to the config file";
  EXPECT_EQ(s.header.format, "iso8601-level");
  EXPECT_DOUBLE_EQ(s.miner.similarity, 0.6);
  ASSERT_EQ(s.miner.masks.user.size(), 1u);
  const auto& m = cfg.policies.at(0).metrics;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].id, "editor/fresh_errors");
  EXPECT_EQ(m[0].source, "log:app");
  const auto* c = m[1].log.get<LogConditionSpec>();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, "surge");
  EXPECT_DOUBLE_EQ(c->surge.alpha, 0.05);
  EXPECT_DOUBLE_EQ(c->surge.min_ratio, 2);
  EXPECT_NE(m[1].describe().find("surge in log source app"), std::string::npos);
}

// A log condition through the signal source, in fake time.
struct Signal {
  test::TempDir dir;
  FakeClock clock;
  Config cfg;
  std::map<std::string, std::unique_ptr<MetricSource>> sources;
  std::string log;
  Signal() {
    auto loaded = load_config(dir.write("dg.toml", kConfig));
    EXPECT_TRUE(loaded.config);
    cfg = *loaded.config;
    log = dir.file("app.log");
    add_log_signal_sources(cfg.log_sources, cfg.policies, sources);
  }
  void write(const std::string& text) { std::ofstream(log, std::ios::app) << text << "\n"; }
  MetricReading read(size_t condition) {
    const auto& c = cfg.policies[0].metrics[condition];
    return sources.at(c.source)->read(c.query, clock);
  }
};

TEST(LogSignal, JudgesWhatCameAfterTheFirstReadAgainstTheHistory) {
  Signal s;
  ASSERT_EQ(s.sources.size(), 1u);
  ASSERT_TRUE(s.sources.contains("log:app"));
  for (int i = 0; i < 20; ++i) s.write("2026-12-01T10:00:00Z INFO request " + std::to_string(i) + " served");
  auto first = s.read(0);
  EXPECT_EQ(first.status, ReadingStatus::NoData) << "nothing since the release yet: " << first.detail;
  s.clock.advance(2s);
  for (int i = 0; i < 3; ++i) s.write("2026-12-01T10:00:00Z ERROR cannot load module list for tenant-acme");
  s.clock.advance(2s);
  auto r = s.read(0);
  ASSERT_EQ(r.status, ReadingStatus::Ok) << r.detail;
  EXPECT_EQ(r.series.at(0).value, 1) << r.detail;
  EXPECT_NE(r.detail.find("new_signature"), std::string::npos);
  EXPECT_NE(r.detail.find("cannot load module list for <*>"), std::string::npos) << "user mask applied: " << r.detail;
  EXPECT_NE(r.detail.find("e.g."), std::string::npos) << "an example line";
}

TEST(LogSignal, AReleaseAnnouncedLaterMovesTheWindowAndStateSurvives) {
  Signal s;
  s.write("2026-12-01T10:00:00Z INFO request served");
  (void)s.read(0);  // opens: the history is the baseline
  s.clock.advance(5s);
  for (int i = 0; i < 3; ++i) s.write("2026-12-01T10:00:00Z ERROR disk full on volume data");
  s.clock.advance(2s);
  ASSERT_EQ(s.read(0).series.at(0).value, 1);
  // A new release: the errors are now part of its baseline.
  s.sources.at("log:app")->release_started("wiki", s.clock.now());
  s.clock.advance(3s);
  s.write("2026-12-01T10:00:00Z INFO request served");
  s.clock.advance(2s);
  auto r = s.read(0);
  ASSERT_EQ(r.status, ReadingStatus::Ok) << r.detail;
  EXPECT_EQ(r.series.at(0).value, 0) << r.detail;
  s.sources.at("log:app")->release_started("another-service", s.clock.now());  // not its service: no effect
  auto states = log_signal_states(s.sources);
  ASSERT_EQ(states.size(), 1u);
  EXPECT_NE(states[0].second.find(R"("disk","full","on","volume","data")"), std::string::npos) << states[0].second;
  // A fresh watcher: the same ids from the checkpoint's state.
  Signal t;
  restore_log_signal_states(t.sources, states);
  EXPECT_EQ(log_signal_states(t.sources), states) << "kept until the source opens";
}

}  // namespace
}  // namespace dg::logs
