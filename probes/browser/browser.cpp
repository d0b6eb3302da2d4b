// The warm browser: launched through start_command (Boost.Process v2 on the
// loop, its own process group) with the DevTools pipe passed as fds 3 and 4.
#include "probes/browser/browser.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "agent/core/async_process.h"

namespace dg {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Flags for a quiet, cheap, reproducible headless browser: nothing it would
// fetch or do for a person (updates, sync, translation, first-run UI).
const char* const kFlags[] = {
    "--headless=new",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--password-store=basic",
    "--use-mock-keychain",
};

std::string default_program() {
  // The Debian launcher script (/usr/bin/chromium) only adds flags for a
  // desktop; the binary itself starts faster and is the process we watch.
  if (::access("/usr/lib/chromium/chromium", X_OK) == 0) return "/usr/lib/chromium/chromium";
  return "chromium";
}

struct ProcStat {
  int pgrp = 0;
  long long rss_pages = 0;
  unsigned long long ticks = 0;  ///< utime + stime + cutime + cstime
};

std::optional<ProcStat> read_stat(const char* pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
  ProcStat st;
  char state;
  int ppid;
  unsigned long long skip, utime, stime;
  long long cutime, cstime, rss;
  // 3 state, 4 ppid, 5 pgrp, 6-13 skipped, 14 utime, 15 stime, 16 cutime, 17 cstime, 18-23 skipped, 24 rss
  if (std::sscanf(p + 2,
                  "%c %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %lld %lld %llu %llu %llu %llu %llu %llu %lld",
                  &state, &ppid, &st.pgrp, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &utime, &stime,
                  &cutime, &cstime, &skip, &skip, &skip, &skip, &skip, &skip, &rss) != 22)
    return std::nullopt;
  st.rss_pages = rss;
  st.ticks = utime + stime + static_cast<unsigned long long>(cutime + cstime);
  return st;
}

template <class F>
void for_each_in_group(int pgid, F f) {
  if (pgid <= 0) return;
  DIR* d = ::opendir("/proc");
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (auto st = read_stat(e->d_name); st && st->pgrp == pgid) f(*st);
  }
  ::closedir(d);
}

}  // namespace

long long process_group_rss(int pgid) {
  long long pages = 0;
  for_each_in_group(pgid, [&](const ProcStat& st) { pages += st.rss_pages; });
  return pages * ::sysconf(_SC_PAGESIZE);
}

long long process_group_pss(int pgid) {
  long long kib = 0;
  std::vector<int> pids;
  if (pgid <= 0) return 0;
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (auto st = read_stat(e->d_name); st && st->pgrp == pgid) pids.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  for (int pid : pids) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    if (const char* p = std::strstr(buf, "\nPss:")) kib += std::atoll(p + 5);
  }
  return kib * 1024;
}

double process_group_cpu_seconds(int pgid) {
  unsigned long long ticks = 0;
  for_each_in_group(pgid, [&](const ProcStat& st) { ticks += st.ticks; });
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Browser::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& l, BrowserOptions o) : loop(l), options(std::move(o)), launch_timer(l) {}

  enum class State { Stopped, Launching, Ready };
  asio::io_context& loop;
  BrowserOptions options;
  State state = State::Stopped;
  std::shared_ptr<CommandHandle> process;
  std::shared_ptr<cdp::CdpPipe> pipe;
  std::string profile;
  asio::steady_timer launch_timer;
  std::vector<std::function<void(Result<std::shared_ptr<cdp::CdpPipe>>)>> waiting;
  std::unordered_map<std::string, cdp::EventHandler> subscribers;
  int in_use = 0;
  int launch_count = 0;
  unsigned generation = 0;  ///< which launch a callback belongs to

  void acquire(std::function<void(Result<std::shared_ptr<cdp::CdpPipe>>)> ready) {
    ++in_use;
    if (state == State::Ready && pipe && pipe->open()) {
      asio::post(loop, [w = weak_from_this(), ready = std::move(ready), gen = generation] {
        auto self = w.lock();
        if (!self) return ready(fail("the browser was shut down"));
        if (self->state != State::Ready || gen != self->generation) return ready(fail("the browser exited"));
        ready(self->pipe);
      });
      return;
    }
    waiting.push_back(std::move(ready));
    if (state == State::Stopped) launch();
  }

  void release() {
    if (in_use > 0) --in_use;
    if (in_use == 0 && state == State::Ready && options.max_memory_bytes > 0) {
      long long used = process_group_pss(pgid());
      if (used > options.max_memory_bytes) {
        spdlog::info("browser probe: the browser's process tree uses {} MiB (bound {} MiB): restarting it", used >> 20,
                     options.max_memory_bytes >> 20);
        stop("restarted: process tree above max_memory");
      }
    }
  }

  int pgid() const { return process ? process->pgid() : 0; }

  void launch() {
    // A write to a browser that just died must be an error on the pipe, not
    // a SIGPIPE that ends the agent (which ignores it already; a test or an
    // embedding program may not).
    static std::once_flag no_sigpipe;
    std::call_once(no_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
    state = State::Launching;
    ++generation;
    ++launch_count;
    std::string program = options.chromium.empty() ? default_program() : options.chromium;
    const char* tmp = ::getenv("TMPDIR");
    std::string dir_template = fmt::format("{}/deployguard-chromium-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    std::vector<char> buf(dir_template.begin(), dir_template.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return fail_launch(fmt::format("cannot create a browser profile directory: {}", std::strerror(errno)));
    profile = buf.data();

    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0) return fail_launch(fmt::format("cannot create pipes: {}", std::strerror(errno)));
    if (::pipe2(from, O_CLOEXEC) != 0) {
      ::close(to[0]);
      ::close(to[1]);
      return fail_launch(fmt::format("cannot create pipes: {}", std::strerror(errno)));
    }
    CommandSpec spec;
    spec.argv.push_back(program);
    for (const char* f : kFlags) spec.argv.emplace_back(f);
    if (::geteuid() == 0) {
      // Chromium refuses to start as root with its sandbox on; without it a
      // page that exploits the renderer runs as root. Said once per process.
      static std::once_flag warned;
      std::call_once(warned, [] {
        spdlog::warn(
            "browser probe: running as root, so Chromium runs with --no-sandbox; run deployguard as an "
            "unprivileged user to keep the browser's sandbox");
      });
      spec.argv.emplace_back("--no-sandbox");
    }
    spec.argv.push_back("--user-data-dir=" + profile);
    for (const auto& a : options.extra_args) spec.argv.push_back(a);
    spec.argv.emplace_back("about:blank");
    spec.env = {{"XDG_CONFIG_HOME", profile}, {"XDG_CACHE_HOME", profile}};
    spec.timeout = std::chrono::hours(24 * 365 * 10);  // kept until stopped
    spec.kill_grace = std::chrono::seconds(2);
    spec.output_limit = 16 * 1024;
    spec.inherit_fds = {{3, to[0]}, {4, from[1]}};
    auto w = weak_from_this();
    unsigned gen = generation;
    process = start_command(loop, spec, [w, gen](Result<CommandResult> r) {
      auto self = w.lock();
      if (!self || gen != self->generation) return;
      std::string why = !r ? r.error().message
                        : r->signal ? fmt::format("the browser was killed by signal {}", r->signal)
                                    : fmt::format("the browser exited with code {}", r->exit_code);
      if (r && !r->err.empty()) why += ": " + text_tail(r->err);
      self->died(why);
    });
    // The child holds its ends now (or never will: the error arrives posted).
    ::close(to[0]);
    ::close(from[1]);
    if (process->pgid() == 0) {
      ::close(to[1]);
      ::close(from[0]);
      process.reset();
      ++generation;  // the posted error is stale: said here
      return fail_launch(fmt::format("{} could not be started (is the Debian package chromium installed?)", program));
    }
    pipe = std::make_shared<cdp::CdpPipe>(loop, to[1], from[0]);
    pipe->on_event([w](const std::string& method, const json::object& params, const std::string& session) {
      if (auto self = w.lock()) self->route(method, params, session);
    });
    pipe->on_closed([w, gen](const std::string& why) {
      auto self = w.lock();
      if (self && gen == self->generation) self->died(why);
    });
    launch_timer.expires_after(options.launch_timeout);
    launch_timer.async_wait([w, gen](boost::system::error_code ec) {
      auto self = w.lock();
      if (ec || !self || gen != self->generation || self->state != State::Launching) return;
      self->died(fmt::format("the browser did not answer within {} ms of its start",
                             std::chrono::duration_cast<std::chrono::milliseconds>(self->options.launch_timeout).count()));
    });
    pipe->call("Browser.getVersion", {}, "", [w, gen](Result<json::object> r) {
      auto self = w.lock();
      if (!self || gen != self->generation || self->state != State::Launching) return;
      if (!r) return self->died(r.error().message);
      self->close_initial_tab(gen);
    });
  }

  // Chromium opens a first tab in the default context; every run has its own
  // context, so that tab's renderer (~60 MB) is dead weight: closed before
  // the browser is ready (the browser stays up without tabs).
  void close_initial_tab(unsigned gen) {
    auto w = weak_from_this();
    pipe->call("Target.getTargets", {}, "", [w, gen](Result<json::object> r) {
      auto self = w.lock();
      if (!self || gen != self->generation || self->state != State::Launching) return;
      std::vector<std::string> pages;
      if (r)
        if (auto* infos = r->if_contains("targetInfos"); infos && infos->is_array())
          for (const auto& t : infos->as_array())
            if (t.is_object() && t.as_object().contains("type") && t.as_object().at("type") == "page")
              if (auto* id = t.as_object().if_contains("targetId"); id && id->is_string()) pages.emplace_back(id->as_string());
      if (pages.empty()) return self->ready_now();
      auto left = std::make_shared<size_t>(pages.size());
      for (const auto& id : pages)
        self->pipe->call("Target.closeTarget", {{"targetId", id}}, "", [w, gen, left](Result<json::object>) {
          auto self = w.lock();
          if (!self || gen != self->generation || self->state != State::Launching) return;
          if (--*left == 0) self->ready_now();
        });
    });
  }

  void ready_now() {
    launch_timer.cancel();
    state = State::Ready;
    auto ready_list = std::move(waiting);
    waiting.clear();
    for (auto& ready : ready_list) ready(pipe);
  }

  static std::string text_tail(const std::string& err) {
    // Chromium's last line is the one that says why (its first are D-Bus noise).
    std::string s = err;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    auto nl = s.rfind('\n');
    std::string last = nl == std::string::npos ? s : s.substr(nl + 1);
    return last.size() > 300 ? last.substr(0, 300) : last;
  }

  void fail_launch(const std::string& why) {
    state = State::Stopped;
    auto waiting_now = std::move(waiting);
    waiting.clear();
    for (auto& ready : waiting_now)
      asio::post(loop, [ready = std::move(ready), why] { ready(fail("cannot start the browser: " + why)); });
  }

  void route(const std::string& method, const json::object& params, const std::string& session) {
    std::string key = session;
    if (key.empty())
      if (auto* s = params.if_contains("sessionId"); s && s->is_string()) key = s->as_string();
    if (key.empty())
      if (auto* t = params.if_contains("targetId"); t && t->is_string()) key = t->as_string();
    if (key.empty()) return;
    auto it = subscribers.find(key);
    if (it != subscribers.end()) {
      auto handler = it->second;  // it may unsubscribe itself
      handler(method, params, session);
    }
  }

  // The browser went away by itself: whoever waits or runs hears it, and the
  // next acquire() launches a new one.
  void died(const std::string& why) {
    bool was_launching = state == State::Launching;
    spdlog::warn("browser probe: {}", why);
    stop(why);
    if (was_launching) fail_launch(why);
    auto subs = subscribers;
    json::object params{{"reason", why}};
    for (auto& [key, handler] : subs) handler("Browser.closed", params, key);
  }

  void stop(const std::string& why) {
    ++generation;  // callbacks of this launch are stale from now on
    state = State::Stopped;
    launch_timer.cancel();
    if (pipe) pipe->close(why);
    // The pipe object stays while runs hold it (their calls fail, posted).
    if (int g = pgid(); g > 0) ::kill(-g, SIGKILL);
    process.reset();
    remove_profile();
  }

  void remove_profile() {
    if (profile.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(profile, ec);
    profile.clear();
  }
};

Browser::Browser(asio::io_context& loop, BrowserOptions options)
    : impl_(std::make_shared<Impl>(loop, std::move(options))) {}

Browser::~Browser() {
  impl_->subscribers.clear();
  impl_->waiting.clear();
  impl_->stop("the browser was shut down");
}

void Browser::acquire(std::function<void(Result<std::shared_ptr<cdp::CdpPipe>>)> ready) { impl_->acquire(std::move(ready)); }
void Browser::release() { impl_->release(); }
void Browser::prewarm() {
  if (impl_->state == Impl::State::Stopped) impl_->launch();
}
void Browser::subscribe(const std::string& key, cdp::EventHandler handler) { impl_->subscribers[key] = std::move(handler); }
void Browser::unsubscribe(const std::string& key) { impl_->subscribers.erase(key); }
const BrowserOptions& Browser::options() const { return impl_->options; }
asio::io_context& Browser::loop() { return impl_->loop; }
long long Browser::tree_memory_bytes() const { return process_group_pss(impl_->pgid()); }
int Browser::pgid() const { return impl_->state == Impl::State::Stopped ? 0 : impl_->pgid(); }
int Browser::launches() const { return impl_->launch_count; }

std::shared_ptr<Browser> shared_browser(asio::io_context& loop, const BrowserOptions& options) {
  // Keyed by loop and options; weak, so the browser goes with its last probe.
  static std::mutex mu;
  static std::vector<std::tuple<asio::io_context*, BrowserOptions, std::weak_ptr<Browser>>> browsers;
  std::lock_guard lock(mu);
  std::erase_if(browsers, [](const auto& b) { return std::get<2>(b).expired(); });
  for (auto& [l, o, w] : browsers)
    if (l == &loop && o == options)
      if (auto b = w.lock()) return b;
  auto b = std::make_shared<Browser>(loop, options);
  browsers.emplace_back(&loop, options, b);
  return b;
}

}  // namespace dg
