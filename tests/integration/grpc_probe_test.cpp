// The grpc probe against a real gRPC server: Debian's python3-grpcio serving
// grpc.health.v1.Health/Check (tests/support/grpc_health_server.py).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "probes/grpc/grpc_probe.h"
#include "tests/integration/integration_helpers.h"

extern char** environ;

namespace dg::test {
namespace {

class GrpcProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Debian's interpreter, which has the python3-grpcio package (a PATH
    // python may be another one).
    std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    std::string script = DG_SOURCE_DIR "/tests/support/grpc_health_server.py";
    std::string out = dir_.file("port");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, dir_.file("err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char* argv[] = {python.c_str(), script.c_str(), nullptr};
    ASSERT_EQ(posix_spawnp(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::string p = slurp(out);
      if (!p.empty() && p.back() == '\n') port_ = std::atoi(p.c_str());
      else std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_GT(port_, 0) << "the gRPC health server did not start (python3-grpcio installed?): " << slurp(dir_.file("err"));
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Observation check(const std::string& service, const std::string& expect = "SERVING") {
    auto p = make_grpc_probe("health", Duration{3000},
                             GrpcProbeSpec{.target = "127.0.0.1:" + std::to_string(port_), .service = service, .expect_status = expect});
    SystemClock clock;
    return p->run(clock);
  }
  TempDir dir_;
  pid_t pid_ = 0;
  int port_ = 0;
};

TEST_F(GrpcProbeTest, ServingPasses) {
  Observation o = check("");
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  o = check("wiki");
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_NE(o.detail.find("SERVING"), std::string::npos);
}

TEST_F(GrpcProbeTest, NotServingAndUnknownServiceFail) {
  Observation o = check("down");
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("NOT_SERVING (expected SERVING)"), std::string::npos) << o.detail;
  EXPECT_EQ(check("down", "NOT_SERVING").outcome, Outcome::Passed);
  o = check("nope");
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("grpc-status 5 (NOT_FOUND): unknown service"), std::string::npos) << o.detail;
}

TEST(GrpcProbe, NoServerIsAnError) {
  auto p = make_grpc_probe("health", Duration{1000}, GrpcProbeSpec{.target = "127.0.0.1:" + std::to_string(closed_port())});
  SystemClock clock;
  EXPECT_EQ(p->run(clock).outcome, Outcome::Error);
}

TEST(GrpcProbe, Framing) {
  EXPECT_EQ(grpc_health_request(""), std::string("\0\0\0\0\0", 5));
  EXPECT_EQ(grpc_health_request("wiki"), std::string("\0\0\0\0\x06\x0a\x04wiki", 11));
  EXPECT_EQ(grpc_health_status(std::string("\0\0\0\0\x02\x08\x01", 7)), 1);
  EXPECT_EQ(grpc_health_status(std::string("\0\0\0\0\0", 5)), 0);  // proto3 default: UNKNOWN
  EXPECT_FALSE(grpc_health_status("junk"));
}

}  // namespace
}  // namespace dg::test
