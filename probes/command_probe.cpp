#include "probes/command_probe.h"

#include "agent/config/command_keys.h"

#include <fmt/format.h>

#include "agent/core/async_process.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

class CommandProbe final : public Probe {
 public:
  explicit CommandProbe(ProbeSpec spec) : spec_(std::make_shared<const ProbeSpec>(std::move(spec))) {}
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_command(*spec_, run_command(command()), at);
  }
  void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) override {
    TimePoint at = clock.now();
    // The spec is shared with the completion: the probe may go before it.
    start_command(io.loop, command(), [spec = spec_, at, done = std::move(done)](Result<CommandResult> r) {
      done(evaluate_command(*spec, r, at));
    });
  }

 private:
  CommandSpec command() const {
    const auto& cmd = spec_->kind.as<CommandProbeSpec>();
    return {.argv = cmd.argv, .env = cmd.env, .pass_env = cmd.pass_env, .cwd = cmd.cwd,
            .timeout = spec_->timeout, .kill_grace = cmd.kill_grace};
  }
  std::shared_ptr<const ProbeSpec> spec_;
};

// The end of the output is where a failing script says why. Redacted before
// it is cut; a capped stream may end inside a secret, so that end is dropped.
std::string tail(const std::string& s, bool truncated) { return secrets::excerpt_tail(s, 240, truncated); }

}  // namespace

Observation evaluate_command(const ProbeSpec& spec, const Result<CommandResult>& result, TimePoint at) {
  const auto& cmd = spec.kind.as<CommandProbeSpec>();
  Observation obs{.signal = spec.name, .at = at};
  if (!result) {
    obs.outcome = Outcome::Error;
    obs.detail = result.error().message;
    return obs;
  }
  const CommandResult& r = *result;
  obs.latency = r.elapsed;
  if (r.timed_out) {
    obs.outcome = Outcome::Error;
    obs.detail = timeout_detail(spec.timeout, cmd.kill_grace, r);
    obs.excerpt = tail(r.out, r.out_truncated);
    return obs;
  }
  std::vector<std::string> failures;
  if (r.signal != 0) failures.push_back(fmt::format("killed by signal {}", r.signal));
  else if (r.exit_code != cmd.expect_exit)
    failures.push_back(fmt::format("exit code {} (expected {})", r.exit_code, cmd.expect_exit));
  for (const auto& needle : cmd.stdout_contains)
    if (r.out.find(needle) == std::string::npos) failures.push_back(fmt::format("stdout does not contain \"{}\"", needle));
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("exit {} in {} ms", r.exit_code, r.elapsed.count());
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = text::join(failures, "; ");
    obs.excerpt = r.err.empty() ? tail(r.out, r.out_truncated) : "stderr: " + tail(r.err, r.err_truncated);
  }
  return obs;
}

std::unique_ptr<Probe> make_command_probe(const ProbeSpec& spec) { return std::make_unique<CommandProbe>(spec); }

namespace {

void decode_command_probe(ConfigReader& r, ProbeSpec& spec) {
  if (!r.has("timeout")) spec.timeout = Duration{30'000};  // a command does more than one request
  CommandProbeSpec c;
  decode_command_keys(r, c);
  if (auto v = r.integer("expect_exit", 0, 255)) c.expect_exit = static_cast<int>(*v);
  if (auto v = r.strings("stdout_contains")) c.stdout_contains = *v;
  spec.kind = std::move(c);
}

}  // namespace

void register_command_probe(ProbeRegistry& registry) {
  registry.add("command", [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> { return make_command_probe(spec); },
               decode_command_probe);
}

}  // namespace dg
