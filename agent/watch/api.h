#pragma once
/// The watcher's HTTP API, as a pure-ish function of a request and the
/// watcher's state: routing, the token rules, JSON in and out. The listener
/// (http_listener.h) owns the transport; the watcher owns the state.
///
///   GET  /metrics /healthz /readyz /api/v1/status /api/v1/decisions?since=SEQ&limit=N /api/v1/kpi
///        /  (the status page; ?part=live: its live part)  /static/app.js /static/app.css
///        /incidents/{key}  (the review of an incident, HTML)
///   POST /api/v1/alarm  /api/v1/releases  /api/v1/policies/{name}/pause|resume|release-mitigation|approve|veto
///
/// GETs need the read token when one is configured (the page's static script
/// and stylesheet excepted: they hold no data); POSTs always need the alarm
/// token (401 otherwise, and nothing is journaled). With
/// `watch.trusted_user_header`, a request carrying that header (set by an
/// authenticating proxy) may read and mutate, and its value is who. A POST
/// whose Origin is another site is refused (403), and one authorized by the
/// header alone must be JSON (415 otherwise): no cookie or form can mutate.
#include <deque>
#include <functional>
#include <map>
#include <string>

#include <boost/json/object.hpp>

#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/journal/journal.h"
#include "agent/review/kpi.h"
#include "agent/review/review.h"
#include "agent/watch/http_listener.h"

namespace dg {

/// The watcher's journal read as incidents (the page's KPIs, /incidents/{key}):
/// when the journal's head moved, only the records appended since are read
/// (from the segment that holds them). Owned by the watcher.
struct IncidentCache {
  review::ReviewBuilder builder;
  long long head = -1;  ///< the last record the model holds
  review::Model model;
  kpi::Report kpis;
  std::deque<boost::json::object> recent;  ///< the newest records, for the page's "last decisions"
};

struct ApiContext {
  const Config& config;
  Engine& engine;
  Journal& journal;
  std::function<std::string()> metrics_text;
  const std::map<std::string, std::string>& releases;  ///< current release per service
  const std::string& run_id;
  bool ready = true;
  std::function<boost::json::object(const std::string&)> last_signals;  ///< last observation of a signal
  IncidentCache* incidents = nullptr;  ///< null: read the journal on each request that needs it
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
