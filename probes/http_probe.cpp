#include "probes/http_probe.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/async_http.h"
#include "agent/core/duration.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

std::string status_text(const std::vector<StatusRange>& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges)
    parts.push_back(r.lo == r.hi ? std::to_string(r.lo) : fmt::format("{}-{}", r.lo, r.hi));
  return text::join(parts, ", ");
}

// A JSON value from the body, redacted as a value before it is serialized and cut.
std::string redacted_json_excerpt(const boost::json::value& got) {
  boost::json::value v = got;
  secrets::redact_json(v);
  return text::excerpt(boost::json::serialize(v), 120);
}

// Runs the spec's request and judges it with evaluate_http: the blocking
// run() and the loop's start() differ only in who performs the exchange.
class HttpProbe final : public Probe {
 public:
  explicit HttpProbe(ProbeSpec spec) : spec_(std::move(spec)) {
    const auto& http = spec_.kind.as<HttpProbeSpec>();
    request_.method = http.method;
    request_.url = http.url;
    request_.headers = http.headers;
    request_.body = http.body;
    request_.timeout = spec_.timeout;
    request_.verify_tls = http.verify_tls;
    request_.tls = http.tls;
    request_.follow_redirects = http.follow_redirects;
    request_.reuse_connection = http.keepalive;
  }
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_http(spec_, http_perform(request_), at);
  }
  void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) override {
    TimePoint at = clock.now();
    io.http.perform(request_, [this, at, done = std::move(done)](Result<HttpResponse> response) {
      done(evaluate_http(spec_, response, at));
    });
  }

 private:
  ProbeSpec spec_;
  HttpRequest request_;  // built once from the spec
};

}  // namespace

Observation evaluate_http(const ProbeSpec& spec, const Result<HttpResponse>& response, TimePoint at) {
  const auto& http = spec.kind.as<HttpProbeSpec>();
  const auto& ex = http.expect;
  Observation obs{.signal = spec.name, .at = at};
  if (!response) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("{} {}: {}", http.method, http.url, response.error().message);
    return obs;
  }
  const HttpResponse& r = *response;
  obs.latency = r.elapsed;
  std::vector<std::string> failures;
  // Body checks that only our own read cap kept us from deciding: the part
  // never read could hold the needle, end the regex match or close the JSON.
  std::vector<std::string> unchecked;
  std::string excerpt;

  bool status_ok = false;
  for (const auto& range : ex.status) status_ok = status_ok || (r.status >= range.lo && r.status <= range.hi);
  if (!status_ok) failures.push_back(fmt::format("status {} (expected {})", r.status, status_text(ex.status)));

  if (ex.max_latency && r.elapsed > *ex.max_latency)
    failures.push_back(fmt::format("latency {} ms above max_latency {}", r.elapsed.count(),
                                   format_duration(*ex.max_latency)));

  for (const auto& name : ex.headers_present)
    if (r.header(name) == nullptr) failures.push_back(fmt::format("header \"{}\" missing", name));
  for (const auto& [name, value] : ex.headers_equal) {
    const std::string* got = r.header(name);
    if (got == nullptr) failures.push_back(fmt::format("header \"{}\" missing (expected \"{}\")", name, value));
    else if (*got != value)
      failures.push_back(fmt::format("header \"{}\" is \"{}\" (expected \"{}\")", name, secrets::excerpt(*got, 120), value));
  }

  for (const auto& needle : ex.body_contains) {
    if (r.body.find(needle) == std::string::npos) {
      if (r.body_truncated) {
        unchecked.push_back(fmt::format("whether the body contains \"{}\"", needle));
        continue;
      }
      failures.push_back(fmt::format("body does not contain \"{}\"", needle));
      if (excerpt.empty()) excerpt = secrets::excerpt(r.body);
    }
  }
  for (const auto& needle : ex.body_not_contains) {
    auto pos = r.body.find(needle);
    if (pos == std::string::npos && r.body_truncated)
      unchecked.push_back(fmt::format("whether the body does not contain \"{}\"", needle));
    if (pos != std::string::npos) {
      failures.push_back(fmt::format("body contains \"{}\" at offset {}", needle, pos));
      if (excerpt.empty()) excerpt = secrets::excerpt_around(r.body, pos);
    }
  }
  if (ex.body_regex) {
    auto found = ex.body_regex->search(r.body);
    if (!found) {
      obs.outcome = Outcome::Error;  // we could not tell: the expectation could not be evaluated
      obs.detail = found.error().message;
      return obs;
    }
    if (!*found && r.body_truncated) {
      unchecked.push_back(fmt::format("whether the body matches /{}/", ex.body_regex_text));
    } else if (!*found) {
      failures.push_back(fmt::format("body does not match /{}/", ex.body_regex_text));
      if (excerpt.empty()) excerpt = secrets::excerpt(r.body);
    }
  }

  if (!ex.json_equals.empty()) {
    auto parsed = r.body_truncated ? Result<boost::json::value>(fail("truncated")) : parse_json(r.body);
    if (!parsed && r.body_truncated) {
      unchecked.push_back("the JSON expectations");
    } else if (!parsed) {
      failures.push_back(fmt::format("body is not JSON ({})", parsed.error().message));
      if (excerpt.empty()) excerpt = secrets::excerpt(r.body);
    } else {
      const boost::json::value& doc = *parsed;
      for (const auto& [pointer, expected_text] : ex.json_equals) {
        boost::json::value expected = embed_json(expected_text);
        boost::system::error_code pec;
        const boost::json::value* got = doc.find_pointer(pointer, pec);
        if (got == nullptr) failures.push_back(fmt::format("JSON {} is missing (expected {})", pointer, expected_text));
        else if (*got != expected)
          failures.push_back(fmt::format("JSON {} is {} (expected {})", pointer,
                                         redacted_json_excerpt(*got), expected_text));
      }
    }
  }

  if (failures.empty() && !unchecked.empty()) {
    // Not the target's failure: we stopped reading. Say so, never "failed".
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("body larger than the {} KiB read limit; cannot tell {}", r.body.size() / 1024,
                             text::join(unchecked, ", "));
    obs.excerpt = secrets::excerpt(r.body);
    return obs;
  }
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("status {} in {} ms", r.status, r.elapsed.count());
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = text::join(failures, "; ");
    obs.excerpt = excerpt.empty() ? secrets::excerpt(r.body) : excerpt;
  }
  return obs;
}

std::unique_ptr<Probe> make_http_probe(const ProbeSpec& spec) { return std::make_unique<HttpProbe>(spec); }

}  // namespace dg
