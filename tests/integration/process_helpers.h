#pragma once
// Helpers for tests that run real child processes: is a pid gone, and the
// pid a shell printed.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace dg::test {

/// Dead means gone, or a zombie waiting for its (new) parent to reap it.
inline bool process_dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
  char state = line[close_paren + 2];
  return state == 'Z' || state == 'X';
}

inline bool wait_dead(pid_t pid, std::chrono::milliseconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (process_dead(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return process_dead(pid);
}

inline pid_t read_pid(const std::string& text) {
  try {
    return static_cast<pid_t>(std::stol(text));
  } catch (...) {
    return 0;
  }
}

}  // namespace dg::test
