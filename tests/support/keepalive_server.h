#pragma once
// A loopback HTTP/1.1 server that keeps connections open (unlike HttpServer,
// which closes each after one exchange) and counts the connections it
// accepted: tests tell a reused connection from a new one by that count.
// One thread per connection; requests are read by Content-Length.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_server.h"

namespace dg::test {

class KeepAliveServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  /// drop_after_response: close each connection right after its response,
  /// without saying so (no Connection: close), as a server that times out idle
  /// connections does: the client finds out only when it reuses one.
  explicit KeepAliveServer(Handler h, bool drop_after_response = false)
      : handler_(std::move(h)), drop_(drop_after_response) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~KeepAliveServer() {
    stop_ = true;
    thread_.join();
    for (auto& w : workers_) w.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int accepted() const { return accepted_; }
  int requests() const { return requests_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }
  // Reads with a short poll so that the server's destructor is never kept
  // waiting by a client that holds its connection open.
  bool fill(int c, std::string& data) {
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r == 0) continue;
      if (r < 0) return false;
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  }
  void serve(int c) {
    std::string data;
    while (true) {
      size_t header_end;
      while ((header_end = data.find("\r\n\r\n")) == std::string::npos)
        if (!fill(c, data)) return finish(c);
      Request req;
      size_t line_end = data.find("\r\n");
      std::string line = data.substr(0, line_end);
      auto sp1 = line.find(' '), sp2 = line.rfind(' ');
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      req.headers = data.substr(line_end, header_end - line_end + 2);
      std::string cl = req.header("content-length");
      size_t length = cl.empty() ? 0 : std::stoul(cl);
      while (data.size() < header_end + 4 + length)
        if (!fill(c, data)) return finish(c);
      req.body = data.substr(header_end + 4, length);
      data.erase(0, header_end + 4 + length);
      ++requests_;
      Response r = handler_(req);
      if (r.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
      bool close = req.header("connection") == "close";
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Length: " +
                        std::to_string(r.body.size()) + (close ? "\r\nConnection: close\r\n" : "\r\n");
      for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
      out += "\r\n" + r.body;
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      if (close || drop_) return finish(c);
    }
  }
  void finish(int c) { ::close(c); }

  Handler handler_;
  bool drop_ = false;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

}  // namespace dg::test
