// Child processes on an Asio loop through Boost.Process v2 (Boost 1.81): the
// default launcher forks and execs with our initializers, the process handle
// waits for the exit on a pidfd, and the output arrives through two pipes
// read by the same loop. One state machine per command, no thread per child;
// the blocking run_command is this one run on a private io_context.
//
// Boost.Process v2 in 1.81 is nominally header-only, but in that mode
// process_environment::on_setup is never defined (it is only in src.hpp):
// this file compiles the library itself (BOOST_PROCESS_V2_SEPARATE_COMPILATION
// and src.hpp, set in CMake), and is the only one to include it.
// BOOST_PROCESS_USE_STD_FS makes it use std::filesystem: Debian ships no
// Boost.Filesystem 1.81 to link.
#include "agent/core/async_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
// 1.81 on std::filesystem relies on these without including them: with
// Boost.Filesystem they came in through its headers.
#include <boost/optional.hpp>
#include <boost/type_traits/decay.hpp>
#include <boost/type_traits/is_constructible.hpp>
#include <boost/type_traits/remove_pointer.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <boost/process/v2/src.hpp>

// The exit is watched on a pidfd (Linux 5.3+), not by a SIGCHLD handler.
#if !defined(BOOST_PROCESS_V2_PIDFD_OPEN)
#error "Boost.Process v2 without pidfd_open would watch children through a SIGCHLD signal_set"
#endif
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace dg {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
using Steady = std::chrono::steady_clock;
using Handle = bp::basic_process_handle<asio::io_context::executor_type>;

/// After the leader exits, what it left in the background may hold the
/// pipes open; it gets this long before the group is killed.
constexpr auto kLeftoverGrace = std::chrono::milliseconds(200);
constexpr size_t kReadChunk = 16 * 1024;
/// Reads of the final drain: bounded, in case something outside the group
/// keeps writing.
constexpr int kFinalDrainReads = 64;

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

/// An owned file descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// What the child does between fork and exec, in the launcher's exec-setup
/// hook, after process_stdio's dup2s. Only async-signal-safe calls: the
/// agent has threads.
struct ChildSetup {
  const char* cwd = nullptr;  ///< nullptr: inherit
  const std::vector<std::pair<int, int>>* inherit = nullptr;  ///< {child fd, agent fd}

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&, const char* const*) {
    // Its own group, so a timeout reaches grandchildren too.
    if (::setpgid(0, 0) != 0) return {errno, bp::system_category()};
    // The agent ignores SIGPIPE, and an ignored signal stays ignored across
    // exec; a blocked one stays blocked.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cwd && ::chdir(cwd) != 0) return {errno, bp::system_category()};
    // Nothing of the agent's but stdio reaches the program. The launcher
    // closes the descriptors above its error pipe only (1.81 skips the gaps
    // below it), and another thread's launch may have a pipe of its own
    // open but not yet close-on-exec: mark every one close-on-exec, which
    // also keeps the launcher's error pipe working until exec.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      struct rlimit rl{};
      int max = 1 << 16;
      if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, static_cast<rlim_t>(max)));
      for (int fd = 3; fd < max; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    // Descriptors asked for at fixed numbers: first out of the way of every
    // target (a source may sit on another's target), then dup2'd into place,
    // which clears close-on-exec. The launcher's error pipe is never on a
    // target (3 … 7): start() opens five descriptors (two pipes, /dev/null)
    // before it, and open() takes the lowest free numbers.
    if (inherit && !inherit->empty()) {
      int above = 3;
      for (auto [child, agent] : *inherit) above = std::max(above, child + 1);
      int moved[8];
      size_t n = std::min<size_t>(inherit->size(), 8);
      for (size_t i = 0; i < n; ++i) {
        moved[i] = ::fcntl((*inherit)[i].second, F_DUPFD_CLOEXEC, above);
        if (moved[i] < 0) return {errno, bp::system_category()};
      }
      for (size_t i = 0; i < n; ++i)
        if (::dup2(moved[i], (*inherit)[i].first) < 0) return {errno, bp::system_category()};
    }
    return {};
  }
};

/// 0 when `path` can be executed (relative paths are taken from `cwd`, as
/// the child will), else the errno execve would give.
int check_executable(const std::string& path, const std::string& cwd) {
  std::string at = (!path.starts_with('/') && !cwd.empty()) ? cwd + "/" + path : path;
  struct stat st{};
  if (::stat(at.c_str(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (::faccessat(AT_FDCWD, at.c_str(), X_OK, AT_EACCESS) != 0) return errno;
  return 0;
}

struct Resolved {
  std::string path;
  int error = 0;
};

/// argv[0] to a program path, as execvpe does: a name with a slash as it is;
/// otherwise each element of PATH in turn (an empty one is the working
/// directory), a permission problem reported only if nothing is found. The
/// PATH searched is the agent's, as execvpe reads the caller's environment,
/// not the child's; without one, the C library's default.
Resolved resolve_program(const std::string& name, const std::string& cwd) {
  if (name.empty()) return {"", ENOENT};
  if (name.find('/') != std::string::npos) return {name, check_executable(name, cwd)};
  const char* env_path = ::getenv("PATH");
  std::string_view dirs = env_path ? env_path : "/bin:/usr/bin";
  bool denied = false;
  for (size_t pos = 0;;) {
    size_t colon = dirs.find(':', pos);
    std::string_view dir = dirs.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos);
    std::string candidate = dir.empty() ? name : fmt::format("{}/{}", dir, name);
    int err = check_executable(candidate, cwd);
    if (err == 0) return {candidate, 0};
    if (err == EACCES) denied = true;
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  return {"", denied ? EACCES : ENOENT};
}

/// 0 when the child can enter `cwd`, else the errno chdir would give.
int check_directory(const std::string& cwd) {
  struct stat st{};
  if (::stat(cwd.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if (::faccessat(AT_FDCWD, cwd.c_str(), X_OK, AT_EACCESS) != 0) return errno;
  return 0;
}

struct Stream {
  asio::readable_pipe pipe;
  std::string* into;
  bool* truncated;
  std::array<char, kReadChunk> buf{};
  bool open = true;     ///< not yet at EOF
  bool pending = false;  ///< a read is in flight
  Stream(asio::io_context& loop, std::string* s, bool* t) : pipe(loop), into(s), truncated(t) {}
};

/// One command from launch to its result; lives as long as its handlers.
class Run final : public CommandHandle, public std::enable_shared_from_this<Run> {
 public:
  Run(asio::io_context& loop, const CommandSpec& spec, CommandDone done)
      : loop_(loop),
        timeout_(spec.timeout),
        grace_(spec.kill_grace),
        limit_(spec.output_limit),
        on_stdout_(spec.on_stdout),
        done_(std::move(done)),
        out_(loop, &result_.out, &result_.out_truncated),
        err_(loop, &result_.err, &result_.err_truncated),
        timer_(loop) {}

  ~Run() override {
    // The loop went away before the command ended: leave nothing running.
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void terminate() override {
    asio::dispatch(loop_, [self = shared_from_this()] { self->begin_stop(false); });
  }
  int pgid() const override { return pid_ > 0 ? pid_ : 0; }

  Result<void> start(const CommandSpec& spec);
  void report(Error error) {
    auto done = std::move(done_);
    done(std::unexpected(std::move(error)));
  }

 private:
  struct Launch {
    int error = 0;     ///< errno of a child that failed before exec
    std::string lost;  ///< started, but could not be watched (and is killed)
  };
  Launch launch(const CommandSpec& spec, const std::string& program, std::vector<const char*>& argv,
                std::vector<std::string>& env, int in, int out, int err);
  void read(Stream& s);
  void on_read(Stream& s, const boost::system::error_code& ec, size_t n);
  void on_exit(const boost::system::error_code& ec, int status);
  void begin_stop(bool timeout);
  void finish();
  void complete();
  void keep(Stream& s, const char* data, size_t n);
  template <class F>
  void arm(Steady::time_point at, F f);

  asio::io_context& loop_;
  Duration timeout_, grace_;
  size_t limit_;
  std::function<void(std::string_view)> on_stdout_;
  CommandDone done_;
  CommandResult result_;
  Stream out_, err_;
  asio::steady_timer timer_;
  unsigned timer_gen_ = 0;
  std::optional<Handle> handle_;
  pid_t pid_ = 0;
  Steady::time_point started_;
  bool exited_ = false, reaped_ = false, term_sent_ = false, kill_sent_ = false, finishing_ = false;
  int status_ = 0;
  std::optional<Error> lost_;
};

Result<void> Run::start(const CommandSpec& spec) {
  if (spec.argv.empty()) return fail("empty argv");
  if (spec.inherit_fds.size() > 8) return fail("more than 8 inherited descriptors");
  for (auto [child, agent] : spec.inherit_fds)
    if (child <= 2 || child > 7 || agent < 0) return fail(fmt::format("cannot pass descriptor {} as {}", agent, child));
  // Checked here rather than left to the child: a child that cannot exec
  // leaves through the launcher's exit(), which runs the agent's atexit
  // handlers in the forked copy.
  if (!spec.cwd.empty())
    if (int e = check_directory(spec.cwd))
      return fail(fmt::format("cannot enter working directory {}: {}", spec.cwd, std::strerror(e)));
  Resolved program = resolve_program(spec.argv[0], spec.cwd);
  if (program.error) return fail(fmt::format("cannot start {}: {}", spec.argv[0], std::strerror(program.error)));

  // Every descriptor made here is close-on-exec: a fork in another thread
  // must not inherit it (a write end held elsewhere would keep EOF away).
  Fd out_w, err_w;
  for (auto [s, w] : {std::pair{&out_, &out_w}, std::pair{&err_, &err_w}}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return fail(fmt::format("cannot create pipes: {}", std::strerror(errno)));
    w->fd = fds[1];
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);  // ours only: the child's end stays blocking
    boost::system::error_code ec;
    s->pipe.assign(fds[0], ec);
    if (ec) {
      ::close(fds[0]);
      return fail(fmt::format("cannot watch pipes: {}", ec.message()));
    }
  }
  Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return fail(fmt::format("cannot open /dev/null: {}", std::strerror(errno)));

  std::vector<const char*> argv;
  for (const auto& a : spec.argv) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::vector<std::string> env = child_environment(spec);

  started_ = Steady::now();
  Launch launched = launch(spec, program.path, argv, env, in.fd, out_w.fd, err_w.fd);
  if (launched.error == ENOEXEC) {
    // What execvpe does with an executable that is neither a binary nor has
    // a #! line: hand it to the shell. What the failed child's exit()
    // flushed into the pipes (the agent's stdio buffers) is not its output.
    for (Stream* s : {&out_, &err_})
      while (::read(s->pipe.native_handle(), s->buf.data(), s->buf.size()) > 0) {
      }
    std::vector<const char*> sh_argv{"/bin/sh", program.path.c_str()};
    sh_argv.insert(sh_argv.end(), argv.begin() + 1, argv.end());
    launched = launch(spec, "/bin/sh", sh_argv, env, in.fd, out_w.fd, err_w.fd);
  }
  if (!launched.lost.empty()) return fail(fmt::format("cannot watch {}: {}", spec.argv[0], launched.lost));
  if (launched.error) {
    // A race with the checks above (the directory or program changed).
    if (!spec.cwd.empty() && check_directory(spec.cwd) != 0)
      return fail(fmt::format("cannot enter working directory {}: {}", spec.cwd, std::strerror(launched.error)));
    return fail(fmt::format("cannot start {}: {}", spec.argv[0], std::strerror(launched.error)));
  }
  // The write ends close when this returns: the child holds the only others.

  arm(started_ + timeout_, [](Run& r) { r.begin_stop(true); });
  read(out_);
  read(err_);
  handle_->async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec, int status) { self->on_exit(ec, status); });
  return {};
}

Run::Launch Run::launch(const CommandSpec& spec, const std::string& program, std::vector<const char*>& argv,
                        std::vector<std::string>& env, int in, int out, int err) {
  bp::posix::default_launcher launcher;
  for (auto [child, agent] : spec.inherit_fds) launcher.fd_whitelist.push_back(child);
  bp::error_code ec;
  const pid_t agent = ::getpid();
  Launch result;
  try {
    // A const char** argv goes to execve as it is: argv[0] stays what the
    // spec says ("sh"), not the resolved path.
    auto proc = launcher(loop_.get_executor(), ec, bp::filesystem::path(program), argv.data(),
                         bp::process_stdio{in, out, err}, bp::process_environment(env),
                         ChildSetup{spec.cwd.empty() ? nullptr : spec.cwd.c_str(), &spec.inherit_fds});
    if (!ec) {
      handle_.emplace(proc.detach());
      pid_ = launcher.pid;
      return result;
    }
    result.error = ec.value() ? ec.value() : EIO;
  } catch (...) {
    // In the child (the loop's fork hooks threw) there is nothing to return to.
    if (::getpid() != agent) ::_exit(127);
    // After the fork: the process handle (its pidfd) could not be made.
    result.lost = describe(std::current_exception());
  }
  if (launcher.pid > 0) {
    // A child that failed before exec, or one we cannot watch: gone now.
    ::kill(launcher.pid, SIGKILL);
    ::waitpid(launcher.pid, nullptr, 0);
  }
  return result;
}

template <class F>
void Run::arm(Steady::time_point at, F f) {
  // One timer for deadline, grace and leftovers; the generation drops a
  // wait that had already completed when the timer was re-armed.
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_, f](const boost::system::error_code& ec) {
    if (ec || gen != self->timer_gen_ || self->finishing_) return;
    f(*self);
  });
}

void Run::keep(Stream& s, const char* data, size_t n) {
  if (&s == &out_ && on_stdout_) {
    if (n) on_stdout_(std::string_view(data, n));
    return;
  }
  size_t room = s.into->size() < limit_ ? limit_ - s.into->size() : 0;
  size_t k = std::min(room, n);
  s.into->append(data, k);
  if (k < n) *s.truncated = true;
}

void Run::read(Stream& s) {
  s.pending = true;
  s.pipe.async_read_some(asio::buffer(s.buf),
                         [self = shared_from_this(), &s](const boost::system::error_code& ec, size_t n) {
                           self->on_read(s, ec, n);
                         });
}

void Run::on_read(Stream& s, const boost::system::error_code& ec, size_t n) {
  s.pending = false;
  keep(s, s.buf.data(), n);
  if (ec) s.open = false;  // EOF, or an error that ends this stream all the same
  if (finishing_) {
    if (!out_.pending && !err_.pending) complete();
    return;
  }
  if (ec) {
    if (exited_ && !out_.open && !err_.open) finish();
    return;
  }
  read(s);
}

void Run::on_exit(const boost::system::error_code& ec, int status) {
  if (finishing_) return;
  reaped_ = true;
  exited_ = true;
  status_ = status;
  // Only if something else in the process reaped our child (waitpid(-1),
  // SIGCHLD ignored): its end is unknown.
  if (ec) lost_ = Error{fmt::format("lost track of the command: {}", ec.message())};
  if (kill_sent_ || (!out_.open && !err_.open)) return finish();
  arm(Steady::now() + kLeftoverGrace, [](Run& r) { r.finish(); });
}

void Run::begin_stop(bool timeout) {
  if (pid_ <= 0 || exited_ || finishing_ || term_sent_) return;
  // A polite stop first, so a script can clean up (release a lock, say why);
  // the output it writes meanwhile is still read.
  result_.timed_out = timeout;
  term_sent_ = true;
  ::kill(-pid_, SIGTERM);
  arm(Steady::now() + grace_, [](Run& r) {
    if (r.exited_) return;
    r.result_.killed_after_grace = true;
    r.kill_sent_ = true;
    ::kill(-r.pid_, SIGKILL);
  });
}

void Run::finish() {
  if (finishing_) return;
  finishing_ = true;
  // After the grace this is the point; after an exit it removes whatever
  // was left running in the background.
  ::kill(-pid_, SIGKILL);
  timer_.cancel();
  // Reads in flight end (with what they got) before the result is made.
  boost::system::error_code ignored;
  if (out_.pending) out_.pipe.cancel(ignored);
  if (err_.pending) err_.pipe.cancel(ignored);
  if (!out_.pending && !err_.pending) complete();
}

void Run::complete() {
  // What is already in the pipes, without waiting for an EOF that something
  // outside the group could hold off.
  for (Stream* s : {&out_, &err_}) {
    for (int i = 0; s->open && i < kFinalDrainReads; ++i) {
      ssize_t n = ::read(s->pipe.native_handle(), s->buf.data(), s->buf.size());
      if (n > 0) keep(*s, s->buf.data(), static_cast<size_t>(n));
      else if (n == 0 || (errno != EINTR)) break;
    }
    boost::system::error_code ignored;
    s->pipe.close(ignored);
  }
  handle_.reset();
  result_.elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started_);
  if (WIFEXITED(status_)) result_.exit_code = WEXITSTATUS(status_);
  else if (WIFSIGNALED(status_)) result_.signal = WTERMSIG(status_);
  if (result_.timed_out) result_.exit_code = -1;
  auto done = std::move(done_);
  if (lost_) done(std::unexpected(*lost_));
  else done(std::move(result_));
}

}  // namespace

std::shared_ptr<CommandHandle> start_command(boost::asio::io_context& loop, const CommandSpec& spec, CommandDone done) {
  auto run = std::make_shared<Run>(loop, spec, std::move(done));
  if (auto started = run->start(spec); !started)
    asio::post(loop, [run, error = std::move(started.error())]() mutable { run->report(std::move(error)); });
  return run;
}

Result<CommandResult> run_command(const CommandSpec& spec) {
  // The blocking form is the same run on a loop of its own: one
  // implementation, and no state shared between callers on other threads.
  asio::io_context loop(1);
  std::optional<Result<CommandResult>> result;
  start_command(loop, spec, [&result](Result<CommandResult> r) { result = std::move(r); });
  loop.run();
  if (!result) return fail("the command's loop ended without a result");
  return std::move(*result);
}

}  // namespace dg
