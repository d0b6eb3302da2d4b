// The http rollback: one request, blocking (run) or on the loop (start), judged the same way.
#include "agent/rollback/http_rollback.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/async_http.h"
#include "agent/core/secrets.h"

namespace dg {
namespace {

constexpr size_t kOutputLimit = 2000;

Result<RollbackOutcome> outcome(const RollbackSpec& spec, const Result<HttpResponse>& r) {
  const auto& h = spec.kind.as<HttpRollbackSpec>();
  RollbackOutcome out;
  if (!r) {
    // The request went out (or tried to): a failed rollback, not one that could not start.
    out.exit_code = 0;
    out.timed_out = r.error().message.starts_with("timeout after");
    out.detail = fmt::format("{} {}: {}", h.method, secrets::redact(h.url), secrets::redact(r.error().message));
    return out;
  }
  out.exit_code = r->status;
  out.elapsed = r->elapsed;
  out.ok = h.expect_status.empty() ? r->status >= 200 && r->status < 300
                                   : std::find(h.expect_status.begin(), h.expect_status.end(), r->status) != h.expect_status.end();
  out.output = fmt::format("HTTP {}", r->status);
  if (!r->body.empty()) out.output += ": " + secrets::excerpt(r->body, kOutputLimit);
  out.detail = out.ok ? fmt::format("HTTP {}", r->status)
                      : fmt::format("HTTP {} (expected {})", r->status,
                                    h.expect_status.empty() ? std::string("2xx") : fmt::format("{}", fmt::join(h.expect_status, " or ")));
  return out;
}

class HttpRollback final : public RollbackAction {
 public:
  explicit HttpRollback(RollbackSpec spec) : spec_(std::make_shared<const RollbackSpec>(std::move(spec))) {}

  Result<RollbackOutcome> run() override { return outcome(*spec_, http_perform(request())); }

  void start(AsyncIo& io, std::function<void(Result<RollbackOutcome>)> done) override {
    io.http.perform(request(), [spec = spec_, done = std::move(done)](Result<HttpResponse> r) { done(outcome(*spec, r)); });
  }

 private:
  HttpRequest request() const {
    const auto& h = spec_->kind.as<HttpRollbackSpec>();
    HttpRequest req;
    req.method = h.method;
    req.url = h.url;
    req.headers = h.headers;
    req.body = h.body;
    if (!h.body.empty() && std::none_of(h.headers.begin(), h.headers.end(), [](const auto& kv) {
          std::string k = kv.first;
          std::transform(k.begin(), k.end(), k.begin(), ::tolower);
          return k == "content-type";
        })) {
      size_t i = h.body.find_first_not_of(" \t\r\n");
      if (i != std::string::npos && (h.body[i] == '{' || h.body[i] == '['))
        req.headers.emplace_back("Content-Type", "application/json");
    }
    req.timeout = spec_->timeout;
    req.tls = h.tls;
    req.max_body = 64 * 1024;  // only an excerpt is kept
    return req;
  }
  std::shared_ptr<const RollbackSpec> spec_;
};

void decode_http_rollback(ConfigReader& r, RollbackSpec& spec) {
  HttpRollbackSpec h;
  if (auto v = r.str("method")) {
    static const std::vector<std::string> methods = {"POST", "PUT", "PATCH", "DELETE", "GET"};
    if (std::find(methods.begin(), methods.end(), *v) == methods.end()) r.error("method", "expected one of " + join_quoted(methods));
    h.method = *v;
  }
  if (auto v = r.url("url", "the deploy API's URL", "https://deploy.example.com/api/services/wiki/rollback")) h.url = *v;
  h.headers = r.string_map("headers", true);
  if (auto v = r.str("body")) h.body = *v;
  if (const toml::node* n = r.node("expect_status")) {
    auto one = [&](const toml::node& e) {
      if (auto i = e.value<int64_t>(); i && *i >= 100 && *i <= 599) h.expect_status.push_back(static_cast<int>(*i));
      else r.error_at(&e, r.key_path("expect_status"), "expected an HTTP status (100-599) or an array of them");
    };
    if (const auto* a = n->as_array())
      for (const auto& e : *a) one(e);
    else one(*n);
  }
  decode_http_tls(r, h.tls);
  spec.kind = std::move(h);
}

}  // namespace

void register_http_rollback(RollbackRegistry& registry) {
  registry.add(
      "http",
      [](const RollbackSpec& spec) -> Result<std::unique_ptr<RollbackAction>> { return std::make_unique<HttpRollback>(spec); },
      decode_http_rollback);
}

}  // namespace dg
