#pragma once
/// Internal to dg_core: what the blocking http_perform and the asynchronous
/// AsyncHttp share about one exchange — how an easy handle is set up for an
/// HttpRequest, what its callbacks collect (headers, the body up to its cap),
/// and how the transfer's CURLcode becomes a Result. Only the two executors
/// include it: it brings in curl.h.
#include <curl/curl.h>

#include <chrono>

#include "agent/core/http_client.h"

namespace dg::detail {

/// curl_global_init, once per process (thread-safe).
void curl_global_once();

/// One exchange's state on an easy handle. The handle's options point into
/// it, so it stays at one address from prepare() until the transfer ends;
/// prepare() again to reuse it for the next exchange.
struct CurlExchange {
  CurlExchange() = default;
  CurlExchange(const CurlExchange&) = delete;
  CurlExchange& operator=(const CurlExchange&) = delete;
  ~CurlExchange();

  /// Sets `easy` (fresh, or after curl_easy_reset) up for `request` and starts
  /// the elapsed clock. The request must outlive the transfer: its body is
  /// sent from where it is, not copied.
  void prepare(CURL* easy, const HttpRequest& request);
  /// The exchange's outcome from the transfer's code: the response (a body
  /// stopped at the cap included), or the transport failure as an Error.
  /// Moves the response out.
  Result<HttpResponse> finish(CURL* easy, CURLcode rc);

  CURL* easy = nullptr;
  HttpResponse response;
  size_t max_body = 0;
  bool sized = false;  ///< the body's buffer is reserved
  Duration timeout{0};
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::chrono::steady_clock::time_point started;
};

}  // namespace dg::detail
