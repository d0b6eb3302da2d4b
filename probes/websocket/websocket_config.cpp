// The websocket probe's keys and registration.
#include <fmt/format.h>

#include "agent/config/reader.h"
#include "probes/websocket/websocket_probe.h"

namespace dg {
namespace {

void decode_websocket_probe(ConfigReader& r, ProbeSpec& spec) {
  WebsocketProbeSpec w;
  if (auto v = r.secret_str("url", true, "a ws:// URL")) {
    if (!v->starts_with("ws://")) r.error("url", "expected a ws:// URL (e.g. \"ws://127.0.0.1:8080/socket\"; wss:// is not supported yet)");
    w.url = *v;
  }
  w.headers = r.string_map("headers", true);
  if (auto v = r.secret_str("send")) w.send = *v;
  r.with_table("expect", [&](ConfigReader& er) {
    if (auto v = er.str("reply_matches")) {
      if (auto re = Regex::compile(*v)) {
        w.expect_regex = *re;
        w.expect_regex_text = *v;
      } else {
        er.error("reply_matches", fmt::format("invalid regex /{}/: {}", *v, re.error().message));
      }
    }
    if (auto v = er.duration("max_latency")) w.max_latency = *v;
  });
  spec.kind = std::move(w);
}

}  // namespace

void register_websocket_probe(ProbeRegistry& registry) {
  registry.add(
      "websocket",
      [](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> {
        return make_websocket_probe(spec.name, spec.timeout, spec.kind.as<WebsocketProbeSpec>());
      },
      decode_websocket_probe);
}

}  // namespace dg
