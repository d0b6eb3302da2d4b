#pragma once
/// Secrets: values resolved from `env:NAME` references. Every resolved value is
/// registered here so that anything written out (journal, incidents, console,
/// reports, error messages) can be passed through redact(). Thread-safe.
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg::secrets {

/// Resolves "env:NAME" to the variable's value and registers it as a secret.
/// Values without the prefix are returned unchanged (and not registered).
Result<std::string> resolve(std::string_view value);
bool is_reference(std::string_view value);
/// Registers a secret explicitly (e.g. a token read elsewhere). Values shorter
/// than 3 characters are ignored: redacting them would garble ordinary text.
void add(std::string value);
/// Replaces every registered secret in `text` with "[REDACTED]".
std::string redact(std::string_view text);
void clear_for_tests();

}  // namespace dg::secrets
