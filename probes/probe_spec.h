#pragma once
/// Typed, validated probe definitions. The config loader builds them; probe
/// code trusts them.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/regex.h"

namespace dg {

struct StatusRange {
  int lo = 200;
  int hi = 299;
};

struct HttpExpect {
  std::vector<StatusRange> status{{200, 299}};
  std::vector<std::string> body_contains;
  std::vector<std::string> body_not_contains;
  std::string body_regex_text;                    ///< as written, for messages
  std::optional<Regex> body_regex;                ///< compiled at load
  std::vector<std::string> headers_present;       ///< lower-cased names
  std::vector<std::pair<std::string, std::string>> headers_equal;  ///< lower-cased name, value
  std::vector<std::pair<std::string, std::string>> json_equals;    ///< JSON pointer, expected JSON text
  std::optional<Duration> max_latency;
};

struct HttpProbeSpec {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< secrets already resolved
  std::string body;
  bool verify_tls = true;
  bool follow_redirects = false;
  /// Keep the connection for the next run (watcher only): cheaper, but a kept
  /// connection does not notice a listener that stopped accepting new ones.
  bool keepalive = false;
  HttpExpect expect;
};

struct CommandProbeSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;  ///< agent.child_env: agent variables the child may see
  std::string cwd;
  Duration kill_grace{3000};          ///< SIGTERM to SIGKILL on timeout
  int expect_exit = 0;
  std::vector<std::string> stdout_contains;
};

struct TcpProbeSpec {
  std::string host;
  int port = 0;
};

struct ProbeSpec {
  std::string name;
  std::string digest;  ///< of its definition as written (see PolicySpec::digest)
  std::string type;  ///< "http" | "command" | "tcp"
  Duration interval{5000};
  Duration timeout{2000};
  std::string description;
  std::variant<HttpProbeSpec, CommandProbeSpec, TcpProbeSpec> kind;
};

}  // namespace dg
