#include "agent/rollback/rollback_action.h"

#include "agent/rollback/command_rollback.h"

#include <memory>

namespace dg {

void RollbackAction::start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) {
  auto result = std::make_shared<Result<RollbackOutcome>>(std::unexpected(Error{"not run"}));
  offload(io.loop, [this, result] { *result = run(); }, [result, done = std::move(done)] { done(std::move(*result)); });
}

// The built-in rollback types; each registers its factory and config decoder
// in its own home.
void register_builtin_rollbacks(RollbackRegistry& registry) { register_command_rollback(registry); }

const RollbackRegistry& builtin_rollbacks() { return built_in_once(register_builtin_rollbacks); }

}  // namespace dg
