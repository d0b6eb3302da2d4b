#include "agent/core/process.h"

#include "agent/core/duration.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

extern char** environ;

namespace dg {
namespace {

struct Pipe {
  int r = -1, w = -1;
  ~Pipe() { close_both(); }
  bool open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    r = fds[0];
    w = fds[1];
    return true;
  }
  void close_r() { if (r >= 0) { ::close(r); r = -1; } }
  void close_w() { if (w >= 0) { ::close(w); w = -1; } }
  void close_both() { close_r(); close_w(); }
};

// Reads what is available; returns false on EOF.
bool drain(int fd, std::string& into, size_t limit, bool& truncated) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = into.size() < limit ? limit - into.size() : 0;
      size_t keep = std::min(room, static_cast<size_t>(n));
      into.append(buf, keep);
      if (keep < static_cast<size_t>(n)) truncated = true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

}  // namespace

bool env_name_allowed(std::string_view name, const std::vector<std::string>& allow) {
  static const std::vector<std::string> defaults{"PATH", "HOME", "LANG", "LC_*", "TZ", "USER"};
  for (const auto* list : {&defaults, &allow})
    for (const auto& a : *list) {
      if (a.ends_with('*') ? name.starts_with(std::string_view(a).substr(0, a.size() - 1)) : name == a) return true;
    }
  return false;
}

std::string timeout_detail(Duration timeout, Duration grace, const CommandResult& r) {
  if (r.killed_after_grace)
    return fmt::format("timeout after {} ms; process group sent SIGTERM, then SIGKILL after {} grace", timeout.count(),
                       format_duration(grace));
  return fmt::format("timeout after {} ms; process group sent SIGTERM and ended within the {} grace", timeout.count(),
                     format_duration(grace));
}

std::vector<std::string> child_environment(const CommandSpec& spec) {
  std::map<std::string, std::string> env_map;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    if (env_name_allowed(kv.substr(0, eq), spec.pass_env)) env_map[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  // execvpe searches PATH; without one a bare program name would not be found.
  env_map.try_emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
  for (const auto& [k, v] : spec.env) env_map[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env_map) out.push_back(k + "=" + v);
  return out;
}

Result<CommandResult> run_command(const CommandSpec& spec) {
  if (spec.argv.empty()) return fail("empty argv");

  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed in a multi-threaded process.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = child_environment(spec);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  Pipe out, err, status;
  if (!out.open() || !err.open() || !status.open())
    return fail(fmt::format("cannot create pipes: {}", std::strerror(errno)));

  auto started = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return fail(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out.w, 1);
    ::dup2(err.w, 2);
    int code = 0;
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) {
      code = errno;
      (void)!::write(status.w, "c", 1);
      (void)!::write(status.w, &code, sizeof code);
      ::_exit(127);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    code = errno;
    (void)!::write(status.w, "e", 1);
    (void)!::write(status.w, &code, sizeof code);
    ::_exit(127);
  }
  // Also set the group from the parent: whichever runs first wins the race.
  ::setpgid(pid, pid);
  out.close_w();
  err.close_w();
  status.close_w();

  char what = 0;
  int code = 0;
  ssize_t n = ::read(status.r, &what, 1);
  if (n == 1) {
    (void)!::read(status.r, &code, sizeof code);
    ::waitpid(pid, nullptr, 0);
    if (what == 'c')
      return fail(fmt::format("cannot enter working directory {}: {}", spec.cwd, std::strerror(code)));
    return fail(fmt::format("cannot start {}: {}", spec.argv[0], std::strerror(code)));
  }

  ::fcntl(out.r, F_SETFL, O_NONBLOCK);
  ::fcntl(err.r, F_SETFL, O_NONBLOCK);
  CommandResult result;
  auto deadline = started + spec.timeout;
  bool out_open = true, err_open = true, exited = false;
  int wstatus = 0;
  std::chrono::steady_clock::time_point exited_at{};
  std::optional<std::chrono::steady_clock::time_point> term_sent;
  while (true) {
    if (!exited) {
      pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = std::chrono::steady_clock::now();
      }
    }
    if (exited && !out_open && !err_open) break;
    auto now = std::chrono::steady_clock::now();
    // The leader is gone; whatever it left running in the background must not
    // hold us (through an inherited pipe) past a short grace period.
    if (exited && now - exited_at > std::chrono::milliseconds(200)) break;
    if (!exited && now >= deadline && !term_sent) {
      // A polite stop first, so a script can clean up (release a lock, say
      // why); the output it writes meanwhile is still read.
      result.timed_out = true;
      ::kill(-pid, SIGTERM);
      term_sent = now;
    }
    if (!exited && term_sent && now >= *term_sent + spec.kill_grace) {
      result.killed_after_grace = true;
      break;
    }
    pollfd fds[2];
    int nfds = 0;
    if (out_open) fds[nfds++] = {out.r, POLLIN, 0};
    if (err_open) fds[nfds++] = {err.r, POLLIN, 0};
    auto next = term_sent ? *term_sent + spec.kill_grace : deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    int timeout_ms = static_cast<int>(std::clamp<long long>(wait_ms, 1, exited ? 20 : 50));
    if (nfds == 0) {
      ::usleep(static_cast<useconds_t>(timeout_ms) * 1000);
      continue;
    }
    ::poll(fds, static_cast<nfds_t>(nfds), timeout_ms);
    if (out_open) out_open = drain(out.r, result.out, spec.output_limit, result.out_truncated);
    if (err_open) err_open = drain(err.r, result.err, spec.output_limit, result.err_truncated);
  }
  // Kill the whole group: after the grace period this is the point; after an
  // exit it removes anything left behind in the background.
  ::kill(-pid, SIGKILL);
  if (!exited) {
    ::waitpid(pid, &wstatus, 0);
    exited = true;
  }
  if (out_open) drain(out.r, result.out, spec.output_limit, result.out_truncated);
  if (err_open) drain(err.r, result.err, spec.output_limit, result.err_truncated);
  result.elapsed = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
  if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.signal = WTERMSIG(wstatus);
  }
  if (result.timed_out) result.exit_code = -1;
  return result;
}

}  // namespace dg
