#pragma once
/// The notifier's retry rules are the agent's (agent/core/retry.h): a sink's
/// attempt() answers a SinkAttempt, retried by the notifier.
#include "agent/core/retry.h"

namespace dg {
using SinkAttempt = Attempt;
}  // namespace dg
