#pragma once
/// Bearer-token checks for the listener's protected endpoints.
#include <string_view>

namespace dg {

/// Whether an Authorization header value is "Bearer <token>" (scheme in any
/// case, one or more spaces) with exactly `expected_token`. The tokens are
/// compared as SHA-256 digests with a constant-time compare, so neither a
/// matching prefix nor the expected token's length changes the time taken.
/// An empty expected token never matches: an unset secret must not open an
/// endpoint to every caller.
bool bearer_token_ok(std::string_view authorization_header_value, std::string_view expected_token);

}  // namespace dg
