// prometheus: instant PromQL queries over the HTTP API.
#include <fmt/format.h>

#include "agent/core/async_http.h"
#include "agent/core/http_client.h"
#include "agent/core/text.h"
#include "probes/metrics/prometheus_source.h"
#include "probes/metrics/endpoint_config.h"
#include "probes/metrics/prometheus_response.h"

namespace dg {
namespace {

class PrometheusSource final : public MetricSource {
 public:
  explicit PrometheusSource(PrometheusSourceSpec spec) : spec_(std::move(spec)) {
    while (!spec_.url.empty() && spec_.url.back() == '/') spec_.url.pop_back();
  }

  MetricReading read(const MetricQuery& q, const Clock& clock, std::optional<TimePoint> at) override {
    TimePoint started = clock.now();
    return reading(http_perform(request(q, clock, at)), q, started);
  }

  void start_read(AsyncIo& io, const MetricQuery& q, const Clock& clock, std::optional<TimePoint> at,
                  std::function<void(MetricReading)> done) override {
    TimePoint started = clock.now();
    io.http.perform(request(q, clock, at), [&q, started, done = std::move(done)](Result<HttpResponse> resp) {
      done(reading(resp, q, started));
    });
  }

 private:
  HttpRequest request(const MetricQuery& q, const Clock& clock, std::optional<TimePoint> at) const {
    std::string form = "query=" + text::url_encode(q.promql);
    if (at) {
      // Prometheus evaluates at a calendar time; ours are monotonic.
      double secs = std::chrono::duration<double>(clock.to_wall(*at).time_since_epoch()).count();
      form += fmt::format("&time={:.3f}", secs);
    }
    // Let Prometheus give up when we do, instead of computing for nobody.
    form += fmt::format("&timeout={}ms", spec_.timeout.count());
    HttpRequest req;
    req.url = spec_.url + "/api/v1/query";
    req.headers = spec_.headers;
    req.timeout = spec_.timeout;
    req.verify_tls = spec_.verify_tls;
    req.tls = spec_.tls;
    // Long queries go in a POST body: URLs have practical length limits.
    if (form.size() > 1500) {
      req.method = "POST";
      req.body = form;
      req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    } else {
      req.url += "?" + form;
    }
    req.headers.emplace_back("Accept", "application/json");
    return req;
  }

  static MetricReading reading(const Result<HttpResponse>& resp, const MetricQuery& q, TimePoint started) {
    MetricReading r;
    if (!resp) {
      r.status = ReadingStatus::Error;
      r.detail = fmt::format("prometheus: {}", resp.error().message);  // never the URL: it may hold credentials
    } else {
      const std::string* ct = resp->header("content-type");
      r = decode_prometheus_answer(resp->status, ct ? *ct : "", resp->body);
    }
    r.at = started;
    r.query = q.promql;
    return r;
  }

  PrometheusSourceSpec spec_;
};

}  // namespace

std::unique_ptr<MetricSource> make_prometheus_source(const PrometheusSourceSpec& spec) {
  return std::make_unique<PrometheusSource>(spec);
}

void register_prometheus_source(MetricSourceRegistry& registry) {
  registry.add(
      "prometheus",
      [](const MetricSourceSpec& s) -> Result<std::unique_ptr<MetricSource>> {
        return make_prometheus_source(s.kind.as<PrometheusSourceSpec>());
      },
      [](ConfigReader& r, MetricSourceSpec& spec) {
        PrometheusSourceSpec p;
        decode_endpoint(r, p, "the Prometheus base URL", "http://127.0.0.1:9090");
        spec.queries = MetricSourceSpec::Queries::PromQL;
        spec.has_history = true;
        spec.kind = std::move(p);
      });
}

}  // namespace dg
