#pragma once
// Small helpers shared by the integration tests: temp dirs, a port that is
// known to be closed, and probe construction through the registry.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "probes/probe.h"
#include "tests/support/temp_dir.h"

namespace dg::test {

inline std::string read_text(const std::string& path) { return slurp(path); }

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// A loopback TCP port that nothing listens on: bind port 0, read the port
/// the kernel chose, close the socket.
inline int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// Builds a probe through the registry, as the agent does.
inline std::unique_ptr<Probe> make_probe(const ProbeSpec& spec) {
  ProbeRegistry registry;
  register_builtin_probes(registry);
  auto probe = registry.make(spec);
  if (!probe) {
    ADD_FAILURE() << "cannot build probe: " << probe.error().message;
    return nullptr;
  }
  return std::move(*probe);
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace dg::test
