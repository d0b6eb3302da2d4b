#pragma once
/// One HTTP exchange over libcurl. Blocking; safe to call from several threads
/// (each call owns its easy handle). A transport failure (DNS, connect, TLS,
/// timeout) is an Error; any HTTP status is a response.
#include <string>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"

namespace dg {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Duration timeout{5000};
  bool verify_tls = true;
  /// TLS client settings, for every HTTP client of the agent (config keys
  /// ca_file, client_cert, client_key: agent/config/http_keys.h).
  struct Tls {
    std::string ca_file;      ///< CA bundle to verify the server with, instead of the system store
    std::string client_cert;  ///< PEM client certificate (mTLS), with client_key
    std::string client_key;
  } tls;
  bool follow_redirects = false;
  /// Cap on the (decompressed) body: the transfer stops there, body_truncated is set.
  size_t max_body = 1024 * 1024;
  /// AsyncHttp only: keep the connection for the next exchange to the same
  /// host (`keepalive = true` on a probe). Off, every exchange connects anew.
  bool reuse_connection = false;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
  std::string body;
  bool body_truncated = false;  ///< the body reached max_body; the rest was never read
  Duration elapsed{0};

  /// First value of a header (name compared case-insensitively), or nullptr.
  const std::string* header(std::string_view name) const;
};

Result<HttpResponse> http_perform(const HttpRequest& request);

}  // namespace dg
