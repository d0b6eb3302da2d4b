#include "probes/grpc/grpc_probe.h"

#include <curl/curl.h>

#include <chrono>

#include <fmt/format.h>

#include "agent/core/curl_exchange.h"
#include "agent/core/text.h"

namespace dg {
namespace {

using Steady = std::chrono::steady_clock;
constexpr size_t kMaxBody = 64 * 1024;

const char* grpc_code_name(int c) {
  static const char* const names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  return c >= 0 && c < 17 ? names[c] : "?";
}

struct Exchange {
  GrpcFacts facts;
  std::string body;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  size_t len = size * n;
  if (x->body.size() + len > kMaxBody) return 0;  // not a health answer: stop
  x->body.append(p, len);
  return len;
}

// Headers and trailers both come here (libcurl passes HTTP/2 trailers to the
// header callback): grpc-status is in the trailers, or in the headers of a
// trailers-only answer.
size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string_view line(p, size * n);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  if (name == "grpc-status") x->facts.grpc_status = std::atoi(std::string(value).c_str());
  else if (name == "grpc-message") x->facts.grpc_message = std::string(value);
  else if (name == "content-type") x->facts.content_type = std::string(value);
  return size * n;
}

GrpcFacts call(const GrpcProbeSpec& spec, Duration timeout) {
  detail::curl_global_once();
  Exchange x;
  auto started = Steady::now();
  CURL* curl = curl_easy_init();
  if (!curl) {
    x.facts.transport_error = "cannot create an HTTP client handle";
    return x.facts;
  }
  std::string url = fmt::format("{}://{}/grpc.health.v1.Health/Check", spec.tls ? "https" : "http", spec.target);
  std::string request = grpc_health_request(spec.service);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "content-type: application/grpc");
  headers = curl_slist_append(headers, "te: trailers");
  headers = curl_slist_append(headers, fmt::format("grpc-timeout: {}m", timeout.count()).c_str());
  for (const auto& [k, v] : spec.metadata) headers = curl_slist_append(headers, fmt::format("{}: {}", k, v).c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, spec.tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, spec.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, spec.verify_tls ? 2L : 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "deployguard/0.1 grpc-health");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  x.facts.http_status = static_cast<int>(status);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status > 0)) {
    x.facts.transport_error = rc == CURLE_OPERATION_TIMEDOUT ? fmt::format("no answer within {} ms", timeout.count())
                              : errbuf[0]                    ? std::string(errbuf)
                                                             : std::string(curl_easy_strerror(rc));
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  x.facts.serving_status = grpc_health_status(x.body);
  x.facts.elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started);
  return x.facts;
}

class GrpcProbe final : public Probe {
 public:
  GrpcProbe(std::string name, Duration timeout, GrpcProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_grpc(name_, spec_, call(spec_, timeout_), at);
  }

 private:
  std::string name_;
  Duration timeout_;
  GrpcProbeSpec spec_;
};

}  // namespace

const char* serving_status_name(int s) {
  switch (s) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
  }
  return "?";
}

std::string grpc_health_request(const std::string& service) {
  // HealthCheckRequest { string service = 1; }: tag 0x0a, varint length, bytes.
  std::string msg;
  if (!service.empty()) {
    msg.push_back('\x0a');
    for (size_t n = service.size();; n >>= 7) {
      unsigned char b = n & 0x7f;
      if (n >> 7) b |= 0x80;
      msg.push_back(static_cast<char>(b));
      if (!(n >> 7)) break;
    }
    msg += service;
  }
  std::string framed(5, '\0');  // not compressed, 4-byte big-endian length
  for (int i = 0; i < 4; ++i) framed[1 + i] = static_cast<char>((msg.size() >> (8 * (3 - i))) & 0xff);
  return framed + msg;
}

std::optional<int> grpc_health_status(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  uint32_t len = 0;
  for (int i = 1; i <= 4; ++i) len = (len << 8) | static_cast<unsigned char>(body[i]);
  std::string_view msg = body.substr(5);
  if (msg.size() < len) return std::nullopt;
  msg = msg.substr(0, len);
  // HealthCheckResponse { ServingStatus status = 1; }: tag 0x08, varint. An
  // empty message is status 0 (UNKNOWN), as proto3 omits defaults.
  int status = 0;
  for (size_t i = 0; i < msg.size();) {
    unsigned char tag = static_cast<unsigned char>(msg[i++]);
    uint64_t v = 0;
    int shift = 0;
    while (i < msg.size()) {
      unsigned char b = static_cast<unsigned char>(msg[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (tag == 0x08) status = static_cast<int>(v);
    else if ((tag & 7) != 0) return std::nullopt;  // only varint fields expected here
  }
  return status;
}

Observation evaluate_grpc(const std::string& probe, const GrpcProbeSpec& spec, const GrpcFacts& f, TimePoint at) {
  Observation obs{.signal = probe, .at = at, .latency = f.elapsed};
  std::string what = fmt::format("grpc.health.v1.Health/Check({}) at {}", spec.service.empty() ? "\"\"" : spec.service, spec.target);
  if (f.transport_error) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("{}: {}", what, *f.transport_error);
    return obs;
  }
  obs.outcome = Outcome::Failed;
  if (f.http_status != 200) {
    obs.detail = fmt::format("{}: HTTP status {} (not a gRPC answer)", what, f.http_status);
  } else if (!f.grpc_status) {
    obs.detail = fmt::format("{}: no grpc-status in the answer (content-type {})", what, f.content_type.empty() ? "none" : f.content_type);
  } else if (*f.grpc_status != 0) {
    obs.detail = fmt::format("{}: grpc-status {} ({}){}", what, *f.grpc_status, grpc_code_name(*f.grpc_status),
                             f.grpc_message.empty() ? "" : ": " + text::excerpt(f.grpc_message, 200));
  } else if (!f.serving_status) {
    obs.detail = fmt::format("{}: the answer is not a HealthCheckResponse", what);
  } else if (serving_status_name(*f.serving_status) != spec.expect_status) {
    obs.detail = fmt::format("{}: {} (expected {})", what, serving_status_name(*f.serving_status), spec.expect_status);
  } else {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("{}: {} in {} ms", what, spec.expect_status, f.elapsed.count());
  }
  return obs;
}

std::unique_ptr<Probe> make_grpc_probe(std::string name, Duration timeout, GrpcProbeSpec spec) {
  return std::make_unique<GrpcProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
