#include "agent/rollback/rollback_action.h"

#include "agent/rollback/command_rollback.h"
#include "agent/rollback/http_rollback.h"

#include <memory>

namespace dg {

void RollbackAction::start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) {
  auto result = std::make_shared<Result<RollbackOutcome>>(std::unexpected(Error{"not run"}));
  offload(io.loop, [this, result] { *result = run(); }, [result, done = std::move(done)] { done(std::move(*result)); });
}

namespace {

// Folds the check into the outcome; the line goes into `output`, which the
// engine journals, as well as into `check`.
void with_check(RollbackOutcome& out, RollbackCheckResult check) {
  out.ok = out.ok && check.ok;
  std::string line = describe_check(check);
  out.detail += "; " + line;
  out.output += (out.output.empty() ? "" : "\n") + line;  // both bounded already
  out.check = std::move(check);
}

// Any rollback type, followed by its check once the action succeeded.
class CheckedRollback final : public RollbackAction {
 public:
  CheckedRollback(std::unique_ptr<RollbackAction> inner, const RollbackCheckSpec& check)
      : inner_(std::move(inner)), check_(std::make_shared<const RollbackCheckSpec>(check)) {}

  Result<RollbackOutcome> run() override {
    auto r = inner_->run();
    if (r && r->ok) with_check(*r, run_rollback_check(*check_));
    return r;
  }

  void start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) override {
    inner_->start(io, [&io, check = check_, done = std::move(done)](Result<RollbackOutcome> r) mutable {
      if (!r || !r->ok) return done(std::move(r));
      auto out = std::make_shared<RollbackOutcome>(std::move(*r));
      start_rollback_check(io, check, [out, done = std::move(done)](RollbackCheckResult c) {
        with_check(*out, std::move(c));
        done(std::move(*out));
      });
    });
  }

 private:
  std::unique_ptr<RollbackAction> inner_;
  std::shared_ptr<const RollbackCheckSpec> check_;
};

}  // namespace

Result<std::unique_ptr<RollbackAction>> RollbackRegistry::make(const RollbackSpec& spec) const {
  auto action = Registry::make(spec);
  if (!action || !spec.check) return action;
  return std::make_unique<CheckedRollback>(std::move(*action), *spec.check);
}

// The built-in rollback types; each registers its factory and config decoder
// in its own home.
void register_builtin_rollbacks(RollbackRegistry& registry) {
  register_command_rollback(registry);
  register_http_rollback(registry);
}

const RollbackRegistry& builtin_rollbacks() { return built_in_once(register_builtin_rollbacks); }

}  // namespace dg
