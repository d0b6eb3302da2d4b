#pragma once
// A tiny blocking HTTP/1.1 server on 127.0.0.1 with an ephemeral port, for
// tests. Each connection gets one request and one response (Connection: close).
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

namespace dg::test {

struct Request {
  std::string method, target, headers, body;
  std::string header(const std::string& name) const {
    std::string lower_headers, lname;
    for (char c : headers) lower_headers += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char c : name) lname += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto pos = lower_headers.find("\r\n" + lname + ":");
    if (pos == std::string::npos) return "";
    auto start = pos + 3 + lname.size();
    auto end = headers.find("\r\n", start);
    std::string v = headers.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

struct Response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int delay_ms = 0;
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  explicit HttpServer(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~HttpServer() {
    stop_ = true;
    thread_.join();
    for (auto& w : workers_) w.join();  // no handler outlives the server
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          Request tmp;
          tmp.headers = data.substr(data.find("\r\n"), header_end - data.find("\r\n") + 2);
          std::string cl = tmp.header("content-length");
          content_length = cl.empty() ? 0 : std::stoul(cl);
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
    }
    Request req;
    auto line_end = data.find("\r\n");
    std::string line = data.substr(0, line_end);
    auto sp1 = line.find(' '), sp2 = line.rfind(' ');
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (header_end != std::string::npos) {
      req.headers = data.substr(line_end, header_end - line_end + 2);
      req.body = data.substr(header_end + 4);
    }
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
    }
    Response r = handler_(req);
    if (r.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nConnection: close\r\n";
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    out += "\r\n" + r.body;
    ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<std::thread> workers_;
};

}  // namespace dg::test
