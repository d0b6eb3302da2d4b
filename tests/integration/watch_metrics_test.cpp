// The watcher's metrics as a scraper sees them: the text passes Prometheus'
// own linter (`promtool check metrics`) and our strict exposition parser, the
// values follow the updates, and forgetting a probe or policy removes its
// series.
#include "agent/watch/watch_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <thread>

#include "probes/metrics/exposition.h"
#include "tests/support/temp_dir.h"

extern char** environ;

using namespace std::chrono_literals;

namespace dg {
namespace {

struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

/// Runs an argv with `input` on its standard input (promtool reads the
/// exposition there), output captured. No shell.
Run run_with_stdin(const std::vector<std::string>& argv, const std::string& input) {
  test::TempDir dir;
  std::string in = dir.write("stdin", input), out = dir.file("out");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  Run run;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    run.output = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return run;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.output = test::slurp(out);
  return run;
}

/// Every sample, keyed `name{label="value",...}` with labels sorted by name.
struct Samples : ExpositionVisitor {
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;  // family → type
  void on_sample(const SampleView& s) override {
    std::map<std::string, std::string> labels;
    for (const auto& l : s.labels) labels[std::string(l.name)] = std::string(l.value);
    std::string key(s.name);
    if (!labels.empty()) {
      key += "{";
      bool first = true;
      for (const auto& [k, v] : labels) {
        key += (first ? "" : ",") + k + "=\"" + v + "\"";
        first = false;
      }
      key += "}";
    }
    values[key] = s.value;
    types[std::string(s.family)] = std::string(s.type);
  }
  double at(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) {
      ADD_FAILURE() << "no sample " << key;
      return -1;
    }
    return it->second;
  }
  bool has_label_value(std::string_view fragment) const {
    for (const auto& [k, v] : values)
      if (k.find(fragment) != std::string::npos) return true;
    return false;
  }
};

Samples parse(const std::string& text) {
  Samples s;
  auto parsed = parse_exposition(text, ExpositionFormat::Text004, s);
  EXPECT_TRUE(parsed) << parsed.error().str() << "\n" << text;
  return s;
}

void update_everything(WatchMetrics& m) {
  m.probe_result("editor", Outcome::Passed, 12ms);
  m.probe_result("editor", Outcome::Failed, 120ms);
  m.probe_result("editor", Outcome::Failed, 3000ms);
  m.probe_result("login \"eu\"\n", Outcome::Error, 20000ms);  // a name a label must escape
  m.observation("passed");
  m.observation("failed");
  m.observation("failed");
  m.observation("no_data");
  EXPECT_TRUE(m.policy_state("editor-errors", "watching"));
  EXPECT_TRUE(m.policy_state("editor-errors", "tripped"));
  EXPECT_TRUE(m.policy_state("login", "paused"));
  m.action("flip_flag", "ok");
  m.action("flip_flag", "ok");
  m.action("rollback", "failed");
  m.incidents_open(1);
  m.journal_record_written(41);
  m.journal_record_written(42);
  m.time_to_detect(1500ms);
  m.time_to_mitigate(95s);
  m.scheduler_overrun("editor");
  m.scheduler_overrun("error-rate");
  m.config_reload(true, TimePoint{std::chrono::seconds{1'800'000'000}});
  m.config_reload(false, TimePoint{std::chrono::seconds{1'800'000'100}});
}

TEST(WatchMetrics, PromtoolAcceptsTheExposition) {
  WatchMetrics m("1.2.3");
  update_everything(m);
  std::string text = m.text();
  auto run = run_with_stdin({"promtool", "check", "metrics"}, text);
  EXPECT_EQ(run.exit_code, 0) << run.output << "\n" << text;
  EXPECT_EQ(run.output, "") << "promtool's lint found something:\n" << run.output;
  // promtool must be able to fail: a counter without _total is one of its lints.
  auto bad = run_with_stdin({"promtool", "check", "metrics"},
                            "# HELP deployguard_x An x.\n# TYPE deployguard_x counter\ndeployguard_x 1\n");
  EXPECT_NE(bad.exit_code, 0) << bad.output;
}

TEST(WatchMetrics, ValuesFollowTheUpdates) {
  WatchMetrics m("1.2.3");
  update_everything(m);
  Samples s = parse(m.text());
  EXPECT_EQ(s.at(R"(deployguard_build_info{version="1.2.3"})"), 1);

  EXPECT_EQ(s.at(R"(deployguard_probe_results_total{outcome="passed",probe="editor"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_probe_results_total{outcome="failed",probe="editor"})"), 2);
  EXPECT_EQ(s.at(R"(deployguard_probe_results_total{outcome="error",probe="editor"})"), 0) << "every outcome from the start";
  EXPECT_EQ(s.at(R"(deployguard_probe_results_total{outcome="error",probe="login "eu"
"})"), 1) << "label values come back unescaped";
  EXPECT_EQ(s.types["deployguard_probe_duration_seconds"], "histogram");
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_count{probe="editor"})"), 3);
  EXPECT_DOUBLE_EQ(s.at(R"(deployguard_probe_duration_seconds_sum{probe="editor"})"), 3.132);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="0.001",probe="editor"})"), 0);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="0.025",probe="editor"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="0.25",probe="editor"})"), 2);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="5",probe="editor"})"), 3);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="10",probe="editor"})"), 3);
  EXPECT_EQ(s.at(R"(deployguard_probe_duration_seconds_bucket{le="+Inf",probe="editor"})"), 3);

  for (auto state : kPolicyStates) {
    std::string key = R"(deployguard_policy_state{policy="editor-errors",state=")" + std::string(state) + "\"}";
    EXPECT_EQ(s.at(key), state == "tripped" ? 1 : 0) << state;
  }
  EXPECT_EQ(s.at(R"(deployguard_policy_state{policy="login",state="paused"})"), 1);
  EXPECT_FALSE(m.policy_state("login", "sleeping")) << "an unknown state changes nothing";

  EXPECT_EQ(s.at(R"(deployguard_observations_total{outcome="failed"})"), 2);
  EXPECT_EQ(s.at(R"(deployguard_observations_total{outcome="no_data"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_actions_total{kind="flip_flag",outcome="ok"})"), 2);
  EXPECT_EQ(s.at(R"(deployguard_actions_total{kind="rollback",outcome="failed"})"), 1);
  EXPECT_EQ(s.at("deployguard_incidents_open"), 1);
  EXPECT_EQ(s.at("deployguard_journal_records_written_total"), 2);
  EXPECT_EQ(s.at("deployguard_journal_head_seq"), 42);
  EXPECT_EQ(s.at("deployguard_time_to_detect_seconds_count"), 1);
  EXPECT_EQ(s.at(R"(deployguard_time_to_detect_seconds_bucket{le="1"})"), 0);
  EXPECT_EQ(s.at(R"(deployguard_time_to_detect_seconds_bucket{le="2.5"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_time_to_mitigate_seconds_bucket{le="60"})"), 0);
  EXPECT_EQ(s.at(R"(deployguard_time_to_mitigate_seconds_bucket{le="120"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_time_to_mitigate_seconds_bucket{le="3600"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_scheduler_overruns_total{signal="editor"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_config_reloads_total{result="success"})"), 1);
  EXPECT_EQ(s.at(R"(deployguard_config_reloads_total{result="failure"})"), 1);
  EXPECT_EQ(s.at("deployguard_config_last_reload_success_timestamp_seconds"), 1'800'000'000);
  EXPECT_EQ(s.at("deployguard_config_last_reload_successful"), 0);
  m.config_reload(true, TimePoint{std::chrono::seconds{1'800'000'200}});
  Samples after = parse(m.text());
  EXPECT_EQ(after.at("deployguard_config_last_reload_successful"), 1);
  EXPECT_EQ(after.at("deployguard_config_last_reload_success_timestamp_seconds"), 1'800'000'200);
}

TEST(WatchMetrics, ForgetRemovesTheSeriesOfWhatAReloadRemoved) {
  WatchMetrics m("1.2.3");
  update_everything(m);
  m.forget_probe("editor");
  m.forget_policy("editor-errors");
  m.forget_signal("error-rate");
  std::string text = m.text();
  Samples s = parse(text);
  EXPECT_FALSE(s.has_label_value(R"(probe="editor")")) << text;
  EXPECT_FALSE(s.has_label_value(R"(signal="editor")")) << "a probe's overruns go with it";
  EXPECT_FALSE(s.has_label_value(R"(signal="error-rate")"));
  EXPECT_FALSE(s.has_label_value(R"(policy="editor-errors")"));
  EXPECT_TRUE(s.has_label_value(R"(policy="login")")) << "the others stay";
  EXPECT_TRUE(s.has_label_value("probe=\"login"));
  m.forget_probe("never-seen");  // nothing to do, nothing created
  EXPECT_EQ(m.text(), text);
  // A probe that comes back starts from zero.
  m.probe_result("editor", Outcome::Passed, 5ms);
  Samples back = parse(m.text());
  EXPECT_EQ(back.at(R"(deployguard_probe_results_total{outcome="failed",probe="editor"})"), 0);
  EXPECT_EQ(back.at(R"(deployguard_probe_results_total{outcome="passed",probe="editor"})"), 1);
  auto run = run_with_stdin({"promtool", "check", "metrics"}, m.text());
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST(WatchMetrics, UpdatesFromSeveralThreadsAddUp) {
  WatchMetrics m("1.2.3");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 1000; ++i) {
        m.probe_result("p" + std::to_string(i % 3), Outcome::Passed, 1ms);
        m.policy_state("policy", kPolicyStates[(i + t) % kPolicyStates.size()]);
        if (i % 100 == 0) m.text();
      }
    });
  for (auto& th : threads) th.join();
  Samples s = parse(m.text());
  double total = 0;
  for (int p = 0; p < 3; ++p)
    total += s.at(R"(deployguard_probe_results_total{outcome="passed",probe="p)" + std::to_string(p) + "\"}");
  EXPECT_EQ(total, 4000);
  double ones = 0;
  for (auto state : kPolicyStates)
    ones += s.at(R"(deployguard_policy_state{policy="policy",state=")" + std::string(state) + "\"}");
  EXPECT_EQ(ones, 1) << "one current state once the writers are done";
}

}  // namespace
}  // namespace dg

namespace dg::test {
namespace {

TEST(WatchMetrics, AnIncidentSinkMarkedDownIsAGaugeAndACounter) {
  WatchMetrics m("1.2.3");
  m.incident_sink_down("pagerduty", true);
  m.incident_sink_down("pagerduty", false);
  m.incident_sink_down("pagerduty", true);
  std::string text = m.text();
  EXPECT_NE(text.find("deployguard_incident_sink_down{sink=\"pagerduty\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("deployguard_incident_sink_down_total{sink=\"pagerduty\"} 2"), std::string::npos) << text;
  m.incident_sink_down("pagerduty", false);
  EXPECT_NE(m.text().find("deployguard_incident_sink_down{sink=\"pagerduty\"} 0"), std::string::npos);
  auto run = run_with_stdin({"promtool", "check", "metrics"}, m.text());
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

}  // namespace
}  // namespace dg::test
