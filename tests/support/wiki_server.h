#pragma once
// The demo wiki (examples/wiki/server.js under node) on a free loopback port
// with a private state directory, for tests that need the real pages.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "agent/core/http_client.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace dg::test {

class WikiServer {
 public:
  explicit WikiServer(const std::string& release = "1") {
    const std::string wiki = DG_SOURCE_DIR "/examples/wiki";
    std::filesystem::copy_file(wiki + "/flags.json", dir_.file("flags.json"));
    std::filesystem::copy_file(wiki + "/tenants.json", dir_.file("tenants.json"));
    set_release(release);
    port_ = free_port();
    std::string script = wiki + "/server.js", port = std::to_string(port_), state = dir_.path();
    std::string log = dir_.file("server.log");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const char* argv[] = {"node", script.c_str(), "--port", port.c_str(), "--state", state.c_str(), nullptr};
    ok_ = posix_spawnp(&pid_, "node", &fa, nullptr, const_cast<char**>(argv), environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; ok_ && i < 200; ++i) {
      if (slurp(log).find("listening") != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ok_ = false;
  }
  ~WikiServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  void set_release(const std::string& r) { std::ofstream(dir_.file("release"), std::ios::trunc) << r << "\n"; }
  /// POST /control/editor-fault: "none", "throw", "missing-module", "slow".
  bool set_fault(const std::string& mode, int delay_ms = 3000) {
    HttpRequest req{.method = "POST",
                    .url = url("/control/editor-fault?mode=" + mode + "&delay_ms=" + std::to_string(delay_ms))};
    auto r = http_perform(req);
    return r && r->status == 200;
  }
  std::string log() const { return slurp(dir_.file("server.log")); }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
  }
  TempDir dir_;
  pid_t pid_ = 0;
  int port_ = 0;
  bool ok_ = false;
};

}  // namespace dg::test
