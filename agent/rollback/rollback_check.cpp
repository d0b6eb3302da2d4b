// The rollback check: the same judgement for the blocking and the loop form.
#include "agent/rollback/rollback_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <thread>

#include "agent/config/http_keys.h"
#include "agent/config/reader.h"
#include "agent/core/async_http.h"
#include "agent/core/secrets.h"

namespace dg {
namespace {

using Steady = std::chrono::steady_clock;

// Empty: the attempt passed; else why not.
std::string judge(const RollbackCheckSpec& spec, const Result<HttpResponse>& r) {
  if (!r) return secrets::redact(r.error().message);
  if (std::find(spec.expect_status.begin(), spec.expect_status.end(), r->status) == spec.expect_status.end())
    return fmt::format("HTTP {} (expected {}): {}", r->status, fmt::join(spec.expect_status, " or "),
                       secrets::excerpt(r->body, 160));
  for (const auto& want : spec.body_contains)
    if (r->body.find(want) == std::string::npos)
      return fmt::format("HTTP {} without \"{}\" in the body: {}", r->status, secrets::redact(want),
                         secrets::excerpt(r->body, 160));
  return "";
}

HttpRequest attempt_request(const RollbackCheckSpec& spec, Duration left) {
  HttpRequest req = spec.request;
  req.timeout = std::max(Duration{1}, std::min(req.timeout, left));
  req.max_body = std::min<size_t>(req.max_body, 256 * 1024);
  return req;
}

Duration since(Steady::time_point t0) { return std::chrono::duration_cast<Duration>(Steady::now() - t0); }

void finish(RollbackCheckResult& out, const RollbackCheckSpec& spec, const Result<HttpResponse>& r,
            const std::string& why) {
  out.last_status = r ? r->status : 0;
  out.ok = why.empty();
  out.detail = out.ok ? fmt::format("{} answered HTTP {}", secrets::redact(spec.request.url), r->status) : why;
}

void decode_status(ConfigReader& r, std::vector<int>& out) {
  const toml::node* n = r.node("expect_status");
  if (!n) return;
  out.clear();
  auto one = [&](const toml::node& e) {
    if (auto i = e.value<int64_t>(); i && *i >= 100 && *i <= 599) out.push_back(static_cast<int>(*i));
    else r.error_at(&e, r.key_path("expect_status"), "expected an HTTP status (100-599) or an array of them");
  };
  if (const auto* a = n->as_array())
    for (const auto& e : *a) one(e);
  else one(*n);
  if (out.empty()) r.error("expect_status", "must name at least one status");
}

}  // namespace

void decode_rollback_check(ConfigReader& r, RollbackCheckSpec& spec) {
  if (auto v = r.url("url", "the URL to check", "https://wiki.example.com/version")) spec.request.url = *v;
  if (auto v = r.str("method")) {
    if (*v != "GET" && *v != "HEAD" && *v != "POST") r.error("method", "expected 'GET', 'HEAD' or 'POST'");
    spec.request.method = *v;
  }
  spec.request.headers = r.string_map("headers", true);
  decode_status(r, spec.expect_status);
  if (auto v = r.strings("body_contains")) spec.body_contains = *v;
  if (auto v = r.duration("timeout")) spec.request.timeout = *v;
  if (auto v = r.duration("within")) spec.within = *v;
  if (auto v = r.duration("interval")) spec.interval = *v;
  decode_http_tls(r, spec.request.tls);
}

RollbackCheckResult run_rollback_check(const RollbackCheckSpec& spec) {
  RollbackCheckResult out;
  auto t0 = Steady::now();
  for (;;) {
    ++out.attempts;
    auto r = http_perform(attempt_request(spec, spec.within - since(t0)));
    std::string why = judge(spec, r);
    bool last = why.empty() || since(t0) + spec.interval >= spec.within;
    if (last) {
      finish(out, spec, r, why);
      out.elapsed = since(t0);
      return out;
    }
    std::this_thread::sleep_for(spec.interval);
  }
}

namespace {

struct AsyncCheck : std::enable_shared_from_this<AsyncCheck> {
  AsyncIo& io;
  std::shared_ptr<const RollbackCheckSpec> spec;
  std::function<void(RollbackCheckResult)> done;
  boost::asio::steady_timer timer;
  Steady::time_point t0 = Steady::now();
  RollbackCheckResult out;

  AsyncCheck(AsyncIo& io_, std::shared_ptr<const RollbackCheckSpec> s, std::function<void(RollbackCheckResult)> d)
      : io(io_), spec(std::move(s)), done(std::move(d)), timer(io_.loop) {}

  void attempt() {
    ++out.attempts;
    io.http.perform(attempt_request(*spec, spec->within - since(t0)), [self = shared_from_this()](Result<HttpResponse> r) {
      std::string why = judge(*self->spec, r);
      if (why.empty() || since(self->t0) + self->spec->interval >= self->spec->within) {
        finish(self->out, *self->spec, r, why);
        self->out.elapsed = since(self->t0);
        auto d = std::move(self->done);
        d(std::move(self->out));
        return;
      }
      self->timer.expires_after(self->spec->interval);
      self->timer.async_wait([self](const boost::system::error_code& ec) {
        if (!ec) self->attempt();
      });
    });
  }
};

}  // namespace

void start_rollback_check(AsyncIo& io, std::shared_ptr<const RollbackCheckSpec> spec,
                          std::function<void(RollbackCheckResult)> done) {
  std::make_shared<AsyncCheck>(io, std::move(spec), std::move(done))->attempt();
}

std::string describe_check(const RollbackCheckResult& r) {
  if (r.ok) return fmt::format("check passed after {} attempt{} ({})", r.attempts, r.attempts == 1 ? "" : "s", r.detail);
  return fmt::format("check failed after {} attempt{} in {} ms: {}", r.attempts, r.attempts == 1 ? "" : "s",
                     r.elapsed.count(), r.detail);
}

}  // namespace dg
