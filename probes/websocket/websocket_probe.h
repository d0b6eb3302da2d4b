#pragma once
/// The `websocket` probe: connect to a ws:// URL (Boost.Beast), optionally
/// send one message, and expect a reply matching a pattern within a bound.
/// run() is start() on a private loop: one implementation.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/observation.h"
#include "agent/core/regex.h"
#include "probes/probe.h"

namespace dg {

struct WebsocketProbeSpec {
  std::string url;  ///< ws://host[:port]/path
  std::vector<std::pair<std::string, std::string>> headers;  ///< on the upgrade request; secrets resolved
  std::string send;  ///< empty: send nothing
  std::string expect_regex_text;
  std::optional<Regex> expect_regex;  ///< a reply must match; unset: none is awaited unless `send`
  std::optional<Duration> max_latency;  ///< connect to reply
};

struct WebsocketFacts {
  std::optional<std::string> connect_error;    ///< no answer: error
  std::optional<std::string> handshake_error;  ///< answered but refused the upgrade: failed
  std::optional<std::string> reply;            ///< the first message received
  bool awaited_reply = false;
  std::string read_error;  ///< why no reply came
  Duration elapsed{0};
};

Observation evaluate_websocket(const std::string& probe, const WebsocketProbeSpec& spec, const WebsocketFacts& facts,
                               TimePoint at);

std::unique_ptr<Probe> make_websocket_probe(std::string name, Duration timeout, WebsocketProbeSpec spec);
/// Registers the `websocket` type with its config decoder (websocket_config.cpp).
void register_websocket_probe(ProbeRegistry& registry);

}  // namespace dg
