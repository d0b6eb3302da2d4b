#pragma once
/// http provider: an in-house flag service spoken to by templated requests
/// (flags/http/template.h says how values are escaped). `read` fetches the
/// flag's state (compared before every write, journaled for undo), `apply`
/// flips it, `restore` puts a journaled state back ({{state}}); after each
/// write the state is read back to verify it.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/http_client.h"
#include "flags/flag_provider.h"

namespace dg {

struct HttpFlagRequest {
  std::string method = "GET";
  std::string url;  ///< template
  std::vector<std::pair<std::string, std::string>> headers;  ///< values are templates
  std::string body;  ///< template; JSON when Content-Type says so or it starts with { or [
  std::vector<int> expect_status;  ///< empty: any 2xx
};

struct HttpProviderSpec {
  HttpFlagRequest read;
  /// JSON Pointer to the flag's state inside the read body ("" = the whole body).
  std::string state_pointer;
  HttpFlagRequest apply;
  /// Text the read-back body contains once the change is applied (a template,
  /// e.g. "\"variant\":\"{{variant}}\""): an apply is skipped when it is
  /// already there, and fails when it is not there after the request.
  std::string applied_contains;
  std::optional<HttpFlagRequest> restore;  ///< absent: undo is not possible (journaled as a failed undo)
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request (e.g. Authorization)
  Duration timeout{5000};
  HttpRequest::Tls tls;
};

/// Registers the type with its config decoder.
void register_http_provider(FlagProviderRegistry& registry);

Result<std::unique_ptr<FlagProvider>> make_http_provider(const FlagProviderSpec& spec);

}  // namespace dg
