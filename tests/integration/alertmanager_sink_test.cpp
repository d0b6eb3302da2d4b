// The alertmanager sink against a real Alertmanager (Debian's
// prometheus-alertmanager, started on loopback by scripts/alertmanager.sh):
// the alert appears in its API with endsAt a TTL ahead, is re-sent while
// firing (endsAt moves on), resolves when "resolved" is sent, and the
// watchdog heartbeat appears as its own always-firing alert.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "agent/core/http_client.h"
#include "agent/core/json_text.h"
#include "agent/core/text.h"
#include "agent/incidents/notifier.h"
#include "agent/incidents/sinks/alertmanager_sink.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace dg::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int run_script(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, "bash", nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class AlertmanagerSink : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/prometheus-alertmanager", X_OK) != 0)
      GTEST_SKIP() << "prometheus-alertmanager is not installed (scripts/install-deps.sh installs it)";
    port_ = free_port();
    script_ = std::string(DG_SOURCE_DIR) + "/scripts/alertmanager.sh";
    ASSERT_EQ(run_script({"bash", script_, "start", dir_.path(), std::to_string(port_)}), 0);
    started_ = true;
  }
  void TearDown() override {
    if (started_) run_script({"bash", script_, "stop", dir_.path()});
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  json::array alerts(const std::string& filter) {
    HttpRequest req;
    req.url = url() + "/api/v2/alerts?filter=" + text::url_encode(filter);
    auto r = http_perform(req);
    if (!r || r->status != 200) return {};
    auto v = parse_json(r->body);
    return v && v->is_array() ? v->as_array() : json::array{};
  }

  TempDir dir_;
  int port_ = 0;
  std::string script_;
  bool started_ = false;
};

TEST_F(AlertmanagerSink, FiresStaysAliveWhileFiringAndResolves) {
  AlertmanagerSinkSpec s;
  s.url = url();
  s.ttl = Duration{10 * 60'000};
  s.resend_every = Duration{700};
  s.heartbeat = Duration{60'000};
  s.labels = {{"team", "platform"}};
  auto sink = builtin_incident_sinks().make(IncidentSinkSpec{.name = "am", .type = "alertmanager", .kind = s});
  ASSERT_TRUE(sink) << sink.error().message;
  TempDir jdir;
  FakeClock clock;
  auto journal = std::move(*Journal::open(jdir.file("journal.jsonl"), clock));
  IncidentNotifier n({{"am", sink->get()}}, *journal);

  Incident i;
  i.event = "opened";
  i.key = "dg-am-test-1";
  i.title = "wiki: editor tripped after release v42";
  i.service = "wiki";
  i.environment = "prod";
  i.policy = "editor";
  i.status = "mitigating";
  i.scope = "tenants with pluginCount == 0";
  i.experience = "GET /edit returns 500";
  i.failure_ratio = 1.0;
  i.since = std::chrono::system_clock::now() - 30s;
  i.at = std::chrono::system_clock::now();
  n.notify(i, {}, false);
  ASSERT_TRUE(n.flush(10s));

  auto firing = alerts("dedup_key=\"dg-am-test-1\"");
  ASSERT_EQ(firing.size(), 1u);
  const auto& a = firing[0].as_object();
  EXPECT_EQ(string_at(a.at("status").as_object(), "state"), "active");
  EXPECT_EQ(string_at(a.at("labels").as_object(), "team"), "platform");
  EXPECT_EQ(string_at(a.at("annotations").as_object(), "how_often"), "every time");
  // Alertmanager echoes endsAt in its own format; compare as times.
  auto ends = [](const json::object& o) {
    std::string e = string_at(o, "endsAt");
    return e.substr(0, 19);  // second precision, lexicographic = chronological (UTC)
  };
  std::string first_end = ends(a);
  EXPECT_GT(first_end, text::rfc3339(std::chrono::system_clock::now() + 9min).substr(0, 19))
      << "a TTL ahead, not Alertmanager's 5 minute default";

  // Re-sent while firing: endsAt moves on.
  std::string later_end;
  for (int k = 0; k < 60 && (later_end.empty() || later_end <= first_end); ++k) {
    std::this_thread::sleep_for(100ms);
    auto again = alerts("dedup_key=\"dg-am-test-1\"");
    if (again.size() == 1) later_end = ends(again[0].as_object());
  }
  EXPECT_GT(later_end, first_end) << "the firing alert was re-sent with a later endsAt";

  n.heartbeat();
  ASSERT_TRUE(n.flush(10s));
  EXPECT_EQ(alerts("alertname=\"DeployguardWatchdog\"").size(), 1u) << "the dead-man's switch fires";

  i.event = "resolved";
  i.status = "mitigated";
  i.at = std::chrono::system_clock::now();
  n.notify(i, {}, false);
  ASSERT_TRUE(n.flush(10s));
  bool gone = false;
  for (int k = 0; k < 50 && !gone; ++k) {
    gone = alerts("dedup_key=\"dg-am-test-1\"").empty();
    if (!gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(gone) << "resolved: endsAt = now";
}

}  // namespace
}  // namespace dg::test
