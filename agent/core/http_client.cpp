#include "agent/core/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>

#include "agent/core/curl_exchange.h"

namespace dg {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Called with decompressed data, a chunk at a time: stopping here at the cap
// bounds memory whatever the encoding (a gzip bomb included) and ends the
// transfer at once instead of reading the rest to discard it.
size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* x = static_cast<detail::CurlExchange*>(user);
  size_t n = size * nmemb;
  auto& body = x->response.body;
  if (!x->sized) {
    // Reserve once instead of growing by doubling (each doubling holds two
    // buffers at once, and the freed ones stay in the heap): the length an
    // unencoded body declares (curl reads no further), else the cap. A
    // reservation costs only the pages written, but a cap-sized block per
    // exchange would make the heap trim and fault fresh pages in each time.
    x->sized = true;
    size_t want = std::min<size_t>(x->max_body, size_t{256} << 20);
    curl_off_t declared = -1;
    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared) == CURLE_OK && declared >= 0 &&
        x->response.header("content-encoding") == nullptr)
      want = std::min(want, static_cast<size_t>(declared));
    body.reserve(want);
  }
  size_t room = body.size() < x->max_body ? x->max_body - body.size() : 0;
  body.append(data, std::min(room, n));
  if (n > room) {
    x->response.body_truncated = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR: a truncated response, not a failure
  }
  return n;
}

size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a new response (redirect or 100-continue) starts
    response->headers.reserve(16);  // one allocation for a typical response's headers
    return n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    response->headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return n;
}

}  // namespace

const std::string* HttpResponse::header(std::string_view name) const {
  auto same = [&](const std::string& k) {  // k is lower-cased already
    if (k.size() != name.size()) return false;
    for (size_t i = 0; i < k.size(); ++i)
      if (k[i] != std::tolower(static_cast<unsigned char>(name[i]))) return false;
    return true;
  };
  for (const auto& [k, v] : headers)
    if (same(k)) return &v;
  return nullptr;
}

namespace detail {

void curl_global_once() {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlExchange::~CurlExchange() { curl_slist_free_all(headers); }

void CurlExchange::prepare(CURL* curl, const HttpRequest& request) {
  easy = curl;
  response = HttpResponse{};
  max_body = request.max_body;
  sized = false;
  timeout = request.timeout;
  errbuf[0] = 0;
  curl_slist_free_all(headers);
  headers = nullptr;
  for (const auto& [k, v] : request.headers) {
    std::string line;
    line.reserve(k.size() + 2 + v.size());
    line.append(k).append(": ").append(v);
    headers = curl_slist_append(headers, line.c_str());
  }
  bool sends_body =
      !request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  // Never let curl add "Expect: 100-continue" to bodies: some servers stall
  // on it. (Without a body curl sends none, and an empty header list spares
  // it a scan of the list for every header it writes.)
  if (sends_body) headers = curl_slist_append(headers, "Expect:");

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (sends_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  // Set every time: a reused easy handle must not keep the previous request's files.
  curl_easy_setopt(curl, CURLOPT_CAINFO, request.tls.ca_file.empty() ? nullptr : request.tls.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLCERT, request.tls.client_cert.empty() ? nullptr : request.tls.client_cert.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLKEY, request.tls.client_key.empty() ? nullptr : request.tls.client_key.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "deployguard/0.1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  started = std::chrono::steady_clock::now();
}

Result<HttpResponse> CurlExchange::finish(CURL* curl, CURLcode rc) {
  response.elapsed = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  if (rc == CURLE_WRITE_ERROR && response.body_truncated) rc = CURLE_OK;
  if (rc != CURLE_OK) {
    if (rc == CURLE_OPERATION_TIMEDOUT) return fail(fmt::format("timeout after {} ms", timeout.count()));
    return fail(errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc)));
  }
  return std::move(response);
}

}  // namespace detail

Result<HttpResponse> http_perform(const HttpRequest& request) {
  detail::curl_global_once();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return fail("cannot create an HTTP client handle");
  detail::CurlExchange exchange;
  exchange.prepare(curl, request);
  CURLcode rc = curl_easy_perform(curl);
  auto result = exchange.finish(curl, rc);
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace dg
