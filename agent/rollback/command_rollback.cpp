// The command rollback: an argv run through start_command / run_command.
#include <fmt/format.h>

#include "agent/core/async_process.h"
#include "agent/core/process.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/config/command_keys.h"
#include "agent/rollback/command_rollback.h"

namespace dg {
namespace {

// What a command's run means for the ladder; the same for run() and start().
Result<RollbackOutcome> outcome(const RollbackSpec& spec, const Result<CommandResult>& r) {
  const auto& cmd = spec.kind.as<CommandRollbackSpec>();
  if (!r) return std::unexpected(r.error());
  RollbackOutcome out;
  out.exit_code = r->exit_code;
  out.timed_out = r->timed_out;
  out.elapsed = r->elapsed;
  // Scripts say why at the end. Each stream is redacted before it is cut
  // (a capped one may end inside a secret: that end is dropped).
  std::string combined = r->out.empty() ? "" : secrets::excerpt_tail(r->out, 2000, r->out_truncated);
  if (!r->err.empty())
    combined += (combined.empty() ? "" : "\n") + secrets::excerpt_tail(r->err, 2000, r->err_truncated);
  out.output = text::excerpt_tail(combined, 2000);
  out.ok = !r->timed_out && r->signal == 0 && r->exit_code == 0;
  if (r->timed_out) out.detail = timeout_detail(spec.timeout, cmd.kill_grace, *r);
  else if (r->signal) out.detail = fmt::format("killed by signal {}", r->signal);
  else out.detail = fmt::format("exit code {}", r->exit_code);
  return out;
}

class CommandRollback final : public RollbackAction {
 public:
  explicit CommandRollback(RollbackSpec spec) : spec_(std::make_shared<const RollbackSpec>(std::move(spec))) {}

  Result<RollbackOutcome> run() override { return outcome(*spec_, run_command(command())); }

  void start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) override {
    start_command(io.loop, command(), [spec = spec_, done = std::move(done)](Result<CommandResult> r) {
      done(outcome(*spec, r));
    });
  }

 private:
  CommandSpec command() const {
    const auto& cmd = spec_->kind.as<CommandRollbackSpec>();
    return {.argv = cmd.argv, .env = cmd.env, .pass_env = cmd.pass_env, .cwd = cmd.cwd,
            .timeout = spec_->timeout, .kill_grace = cmd.kill_grace};
  }
  std::shared_ptr<const RollbackSpec> spec_;
};

void decode_command_rollback(ConfigReader& r, RollbackSpec& spec) {
  CommandRollbackSpec c;
  decode_command_keys(r, c);
  spec.kind = std::move(c);
}

}  // namespace

void register_command_rollback(RollbackRegistry& registry) {
  registry.add(
      "command",
      [](const RollbackSpec& spec) -> Result<std::unique_ptr<RollbackAction>> { return std::make_unique<CommandRollback>(spec); },
      decode_command_rollback);
}

}  // namespace dg
