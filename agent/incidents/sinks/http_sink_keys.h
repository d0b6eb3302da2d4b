#pragma once
/// The keys every HTTP incident sink takes beside its own: timeout (per
/// call), max_attempts and backoff (the notifier's retries, delivery.h),
/// max_backoff, and the TLS client keys (http_keys.h). Included by sink
/// homes only (it brings the config reader).
#include <string>
#include <utility>
#include <vector>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/http_client.h"
#include "agent/incidents/delivery.h"

namespace dg {

struct HttpSinkKeys {
  Duration timeout{5000};
  RetryPolicy retry;
  HttpRequest::Tls tls;
};

inline void decode_http_sink_keys(ConfigReader& r, HttpSinkKeys& k) {
  if (auto v = r.duration("timeout")) k.timeout = *v;
  if (auto v = r.integer("max_attempts", 1, 20)) k.retry.max_attempts = static_cast<int>(*v);
  if (auto v = r.duration("backoff")) k.retry.backoff = *v;
  if (auto v = r.duration("max_backoff")) k.retry.max_backoff = *v;
  decode_http_tls(r, k.tls);
}

/// A JSON request with the sink's timeout and TLS settings.
inline HttpRequest sink_request(const HttpSinkKeys& k, std::string method, std::string url, std::string body,
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.headers = std::move(headers);
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("User-Agent", "deployguard");
  req.body = std::move(body);
  req.timeout = k.timeout;
  req.tls = k.tls;
  return req;
}

}  // namespace dg
