#pragma once
// Runs tests/support/contract_server.py (python3, stdlib) on loopback for a
// test: started in the constructor, stopped by its pid in the destructor.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/http_client.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace dg::test {

class ContractServer {
 public:
  /// secrets: NAME=VALUE pairs the server expects (see the script).
  explicit ContractServer(const std::vector<std::string>& secrets) {
    std::string script = std::string(DG_SOURCE_DIR) + "/tests/support/contract_server.py";
    std::string port_file = dir_.file("port");
    std::vector<std::string> args{"python3", script, port_file};
    for (const auto& s : secrets) args.push_back(s);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port_)) port_ = 0;
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ContractServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  bool ok() const { return pid_ > 0 && port_ > 0; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  boost::json::value control(const std::string& path, const boost::json::value& body = nullptr) const {
    HttpRequest req;
    req.method = body.is_null() ? "GET" : "POST";
    req.url = url("/_control/" + path);
    if (!body.is_null()) req.body = boost::json::serialize(body);
    auto r = http_perform(req);
    if (!r || r->status != 200) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    return ec ? boost::json::value(nullptr) : v;
  }
  void fault(const std::string& match, boost::json::array faults) const {
    control("faults", boost::json::object{{"match", match}, {"faults", std::move(faults)}});
  }
  boost::json::array requests() const {
    auto v = control("requests");
    return v.is_array() ? v.as_array() : boost::json::array{};
  }
  boost::json::object state() const {
    auto v = control("state");
    return v.is_object() ? v.as_object() : boost::json::object{};
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace dg::test
