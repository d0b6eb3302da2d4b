#pragma once
// One real Unleash (scripts/unleash.sh: unleash-server on a private
// PostgreSQL) for the whole test binary, started by a gtest Environment
// before the first test and stopped after the last. Admin calls for the
// tests' own setup, and the client API read the way an SDK reads it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "agent/core/http_client.h"
#include "agent/core/json_text.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace dg::test {

inline const std::string kAdminToken = "*:*.deployguard-test-admin-token";

/// Runs an argv (no shell) with extra environment, output appended to `log`; the exit code.
inline int spawn_wait(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, const std::string& log) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return 127;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

class UnleashServer : public ::testing::Environment {
 public:
  static inline std::string url;           // http://127.0.0.1:PORT, empty when not started
  static inline std::string skip_reason;   // why it could not start
  static inline std::string client_token;  // for the client API (development)

  void SetUp() override {
    std::string script = std::string(DG_SOURCE_DIR) + "/scripts/unleash.sh";
    std::string log = dir_.file("start.log");
    auto t0 = std::chrono::steady_clock::now();
    int rc = spawn_wait({"bash", script, "start", dir_.path()}, {"UNLEASH_ADMIN_TOKEN=" + kAdminToken}, log);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc == 77) {
      skip_reason = "scripts/unleash.sh cannot install PostgreSQL or unleash-server here: " + slurp(log);
      return;
    }
    ASSERT_EQ(rc, 0) << "scripts/unleash.sh start failed:\n" << slurp(log);
    url = slurp(dir_.file("url"));
    while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
    std::printf("[ unleash  ] started at %s in %.1f s\n", url.c_str(), took);
    auto token = admin("POST", "/api/admin/api-tokens",
                       R"({"tokenName":"deployguard-tests","type":"client","environment":"development","projects":["*"]})");
    ASSERT_EQ(token.status, 201) << token.body;
    client_token = std::string(parse_json(token.body)->as_object().at("secret").as_string());
  }
  void TearDown() override {
    if (!url.empty()) spawn_wait({"bash", std::string(DG_SOURCE_DIR) + "/scripts/unleash.sh", "stop", dir_.path()}, {}, dir_.file("stop.log"));
  }

  static HttpResponse admin(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.url = url + path;
    req.headers = {{"Authorization", kAdminToken}};
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
    auto r = http_perform(req);
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << r.error().message;
      return {};
    }
    return *r;
  }

  /// The flag as an SDK sees it (/api/client/features).
  static boost::json::object client_feature(const std::string& flag) {
    HttpRequest req;
    req.url = url + "/api/client/features";
    req.headers = {{"Authorization", client_token}};
    auto r = http_perform(req);
    if (!r || r->status != 200) {
      ADD_FAILURE() << "client API: " << (r ? r->body : r.error().message);
      return {};
    }
    auto doc = parse_json(r->body);
    for (const auto& f : doc->as_object().at("features").as_array())
      if (f.as_object().at("name").as_string() == flag) return f.as_object();
    return {};
  }

 private:
  TempDir dir_;
};

}  // namespace dg::test
