#include "logs/sources/command_source.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>

#include "agent/core/async_process.h"
#include "logs/line_splitter.h"

namespace dg::logs {
namespace {

class CommandSource final : public LogSource {
 public:
  CommandSource(const LogSourceSpec& spec, const Clock& clock)
      : spec_(std::get<CommandSourceSpec>(spec.kind)), clock_(clock), split_(spec.max_line_bytes), backoff_(spec_.restart_min) {}
  ~CommandSource() override {
    if (handle_) handle_->terminate();
    // Lets the group's SIGTERM → SIGKILL sequence run to its end.
    loop_.restart();
    auto until = std::chrono::steady_clock::now() + spec_.command.kill_grace + std::chrono::milliseconds(500);
    while (running_ && std::chrono::steady_clock::now() < until) loop_.run_for(std::chrono::milliseconds(20));
  }

  Result<void> open(TimePoint) override { return launch(); }

  Result<size_t> poll(std::vector<LogLine>& out, size_t max) override {
    loop_.restart();
    loop_.poll();
    if (!running_ && clock_.now() >= restart_at_) {
      if (auto r = launch(); !r) status_ = r.error().message;
    }
    size_t n = std::min(max, pending_.size());
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(pending_[i]));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }

  std::string status() const override { return fmt::format("{}: {}", spec_.command.argv.empty() ? "" : spec_.command.argv[0], status_); }

 private:
  Result<void> launch() {
    CommandSpec c = spec_.command;
    c.timeout = std::chrono::hours(24 * 365 * 10);  // it runs until stopped
    printed_ = false;
    c.on_stdout = [this](std::string_view bytes) {
      printed_ = true;
      split_.feed(bytes, [&](std::string&& text, bool cut) {
        // Bounded while nobody polls: the oldest lines go first.
        if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin()), ++dropped_;
        pending_.push_back(LogLine{clock_.now(), std::move(text), std::nullopt, false, cut});
      });
    };
    running_ = true;
    handle_ = start_command(loop_, c, [this](Result<CommandResult> r) {
      running_ = false;
      handle_.reset();
      split_.flush([&](std::string&& text, bool cut) { pending_.push_back(LogLine{clock_.now(), std::move(text), {}, false, cut}); });
      if (printed_) backoff_ = spec_.restart_min;
      last_exit_ = r ? fmt::format("exited {}", r->exit_code) : r.error().message;
      status_ = fmt::format("{}; restart in {} ms", last_exit_, backoff_.count());
      restart_at_ = clock_.now() + backoff_;
      backoff_ = std::min(spec_.restart_max, backoff_ * 2);
      ++restarts_;
    });
    status_ = restarts_ ? fmt::format("running (restart {}; last {})", restarts_, last_exit_) : "running";
    return {};
  }

  static constexpr size_t kMaxPending = 100'000;
  CommandSourceSpec spec_;
  const Clock& clock_;
  LineSplitter split_;
  boost::asio::io_context loop_;
  std::shared_ptr<CommandHandle> handle_;
  std::vector<LogLine> pending_;
  bool running_ = false, printed_ = false;
  Duration backoff_;
  TimePoint restart_at_{};
  std::string status_ = "not started", last_exit_;
  uint64_t restarts_ = 0, dropped_ = 0;
};

}  // namespace

Result<std::unique_ptr<LogSource>> make_command_source(const LogSourceSpec& spec, const Clock& clock) {
  if (!std::holds_alternative<CommandSourceSpec>(spec.kind)) return fail("command source: wrong spec");
  const auto& c = std::get<CommandSourceSpec>(spec.kind);
  if (c.command.argv.empty()) return fail("command source: empty argv");
  if (c.restart_min.count() <= 0 || c.restart_max < c.restart_min) return fail("command source: restart_min must be > 0 and <= restart_max");
  return std::make_unique<CommandSource>(spec, clock);
}

}  // namespace dg::logs
