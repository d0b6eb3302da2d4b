#pragma once
/// The watcher's HTTP API, as a pure-ish function of a request and the
/// watcher's state: routing, the token rules, JSON in and out. The listener
/// (http_listener.h) owns the transport; the watcher owns the state.
///
///   GET  /metrics /healthz /readyz /api/v1/status /api/v1/decisions?since=SEQ&limit=N
///   POST /api/v1/alarm  /api/v1/releases  /api/v1/policies/{name}/pause|resume|release-mitigation|approve|veto
///
/// GETs need the read token when one is configured; POSTs always need the
/// alarm token (401 otherwise, and nothing is journaled).
#include <functional>
#include <map>
#include <string>

#include <boost/json/object.hpp>

#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/journal/journal.h"
#include "agent/watch/http_listener.h"

namespace dg {

struct ApiContext {
  const Config& config;
  Engine& engine;
  Journal& journal;
  std::function<std::string()> metrics_text;
  const std::map<std::string, std::string>& releases;  ///< current release per service
  const std::string& run_id;
  bool ready = true;
  std::function<boost::json::object(const std::string&)> last_signals;  ///< last observation of a signal
};

struct ApiResult {
  ServerResponse response;
  bool changed = false;  ///< the engine's state may have changed
  std::string release_service, release;  ///< a release announced for this service
  Duration bake{0};                       ///< its bake, if it asked for one
  std::vector<std::string> bake_policies;
};

ApiResult handle_api(ApiContext& ctx, const ServerRequest& request);

/// The decisions a client asks for: records with seq > since, at most limit.
boost::json::array journal_records_since(const std::string& path, long long since, size_t limit);

}  // namespace dg
