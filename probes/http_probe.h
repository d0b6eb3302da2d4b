#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/regex.h"
#include "agent/core/http_client.h"
#include "agent/core/observation.h"
#include "probes/probe.h"

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
  HttpRequest::Tls tls;
  bool follow_redirects = false;
  /// Keep the connection for the next run (watcher only): cheaper, but a kept
  /// connection does not notice a listener that stopped accepting new ones.
  bool keepalive = false;
  HttpExpect expect;
};

/// Pure: judges one HTTP exchange (or its transport failure) against the spec.
Observation evaluate_http(const ProbeSpec& spec, const Result<HttpResponse>& response, TimePoint at);

std::unique_ptr<Probe> make_http_probe(const ProbeSpec& spec);

/// Registers the type with its config decoder (probes/http_probe_config.cpp).
void register_http_probe(ProbeRegistry& registry);

}  // namespace dg
