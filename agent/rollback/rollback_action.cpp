#include "agent/rollback/rollback_action.h"

#include <memory>

namespace dg {

void RollbackAction::start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) {
  auto result = std::make_shared<Result<RollbackOutcome>>(std::unexpected(Error{"not run"}));
  offload(io.loop, [this, result] { *result = run(); }, [result, done = std::move(done)] { done(std::move(*result)); });
}

}  // namespace dg
