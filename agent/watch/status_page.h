#pragma once
/// The status page the watcher serves at `/`: one HTML document rendered on
/// the server (readable without JavaScript), one stylesheet and one script
/// served from the binary under /static/ (no build step, no third-party
/// assets; strict Content-Security-Policy: no inline script or style). The
/// script polls /api/v1/status and, when it changed, swaps in the live part
/// of the page rendered by the same function (`/?part=live`), so there is one
/// renderer; it also drives the alarm button and pause/resume, which post to
/// the API's own routes (api.cpp). Pure: JSON in, text out.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "agent/review/kpi.h"

namespace dg::status_page {

struct PageInput {
  const boost::json::object& status;    ///< what GET /api/v1/status answers
  const boost::json::array& decisions;  ///< the newest journal records, oldest first
  const kpi::Report& kpis;              ///< from the watcher's journal
  std::string identity;                 ///< the trusted proxy's user header on this request ("" none)
  std::string trusted_header;           ///< watch.trusted_user_header ("" off)
  bool alarm_token_configured = false;
  bool read_token_configured = false;
};

/// The whole document.
std::string render_page(const PageInput& in);
/// The live part only (`<div id="live">…</div>`), for the script's refresh.
std::string render_live(const PageInput& in);
/// What `/` answers (401) when a read token is configured and the request has
/// neither it nor the trusted header: a form for the read token, no data.
std::string render_locked_page();

const std::string& app_js();
const std::string& app_css();

/// The page's policy: scripts and styles only from /static/, fetches only to
/// this origin, no frames, no plugins, no form posts.
inline constexpr const char* kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace dg::status_page
