#include "probes/websocket/websocket_probe.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>

#include <fmt/format.h>

#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

struct Target {
  std::string host, port, path;
};

std::optional<Target> parse_ws_url(const std::string& url) {
  if (!url.starts_with("ws://")) return std::nullopt;
  std::string rest = url.substr(5);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Target t{.path = slash == std::string::npos ? "/" : rest.substr(slash)};
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    t.host = authority.substr(0, colon);
    t.port = authority.substr(colon + 1);
  } else {
    t.host = authority;
    t.port = "80";
  }
  if (t.host.empty()) return std::nullopt;
  return t;
}

// One run on a loop; the handlers share it.
struct Session : std::enable_shared_from_this<Session> {
  Session(asio::io_context& loop, const WebsocketProbeSpec& s, Duration timeout)
      : spec(s), resolver(loop), ws(loop), timeout(timeout) {}
  const WebsocketProbeSpec& spec;
  tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  Duration timeout;
  Target target;
  Steady::time_point started = Steady::now();
  WebsocketFacts facts;
  std::function<void(WebsocketFacts)> done;

  void finish() {
    facts.elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started);
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    auto d = std::move(done);
    if (d) d(std::move(facts));
  }

  void start(Target t) {
    target = std::move(t);
    beast::get_lowest_layer(ws).expires_at(started + timeout);
    resolver.async_resolve(target.host, target.port, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) {
        self->facts.connect_error = fmt::format("cannot resolve {}: {}", self->target.host, ec.message());
        return self->finish();
      }
      beast::get_lowest_layer(self->ws).async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) {
          self->facts.connect_error = fmt::format("cannot connect to {}:{}: {}", self->target.host, self->target.port,
                                                  ec == beast::error::timeout ? "timeout" : ec.message());
          return self->finish();
        }
        self->handshake();
      });
    });
  }

  void handshake() {
    ws.set_option(websocket::stream_base::decorator([headers = spec.headers](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "deployguard");
      for (const auto& [k, v] : headers) req.set(k, v);
    }));
    ws.async_handshake(target.host + ":" + target.port, target.path, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        if (ec == beast::error::timeout)
          self->facts.connect_error = fmt::format("no upgrade answer within {} ms", self->timeout.count());
        else
          self->facts.handshake_error = ec.message();
        return self->finish();
      }
      if (!self->spec.send.empty()) {
        self->ws.text(true);
        return self->ws.async_write(asio::buffer(self->spec.send), [self](beast::error_code ec, size_t) {
          if (ec) {
            self->facts.read_error = "cannot send: " + ec.message();
            self->facts.awaited_reply = true;
            return self->finish();
          }
          self->read();
        });
      }
      if (self->spec.expect_regex) return self->read();
      self->finish();
    });
  }

  void read() {
    facts.awaited_reply = true;
    ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->facts.read_error = ec == beast::error::timeout ? fmt::format("no reply within {} ms", self->timeout.count())
                                                            : ec.message();
        return self->finish();
      }
      self->facts.reply = beast::buffers_to_string(self->buffer.data());
      self->finish();
    });
  }
};

class WebsocketProbe final : public Probe {
 public:
  WebsocketProbe(std::string name, Duration timeout, WebsocketProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::move(spec)) {}

  Observation run(const Clock& clock) override {
    asio::io_context loop(1);
    std::optional<Observation> result;
    launch(loop, clock.now(), [&](Observation o) { result = std::move(o); });
    loop.run();
    return result.value_or(Observation{.signal = name_, .outcome = Outcome::Error, .detail = "no result"});
  }

  void start(AsyncIo& io, const Clock& clock, std::function<void(Observation)> done) override {
    launch(io.loop, clock.now(), std::move(done));
  }

 private:
  void launch(asio::io_context& loop, TimePoint at, std::function<void(Observation)> done) {
    auto target = parse_ws_url(spec_.url);
    if (!target) {
      // Posted: done never runs inside start().
      asio::post(loop, [this, at, done = std::move(done)] {
        WebsocketFacts f;
        f.connect_error = "not a ws:// URL: " + spec_.url;
        done(evaluate_websocket(name_, spec_, f, at));
      });
      return;
    }
    auto s = std::make_shared<Session>(loop, spec_, timeout_);
    s->done = [this, at, done = std::move(done)](WebsocketFacts f) { done(evaluate_websocket(name_, spec_, f, at)); };
    s->start(std::move(*target));
  }

  std::string name_;
  Duration timeout_;
  WebsocketProbeSpec spec_;
};

}  // namespace

Observation evaluate_websocket(const std::string& probe, const WebsocketProbeSpec& spec, const WebsocketFacts& f,
                               TimePoint at) {
  Observation obs{.signal = probe, .at = at, .latency = f.elapsed};
  if (f.connect_error) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("{}: {}", spec.url, *f.connect_error);
    return obs;
  }
  std::vector<std::string> failures;
  if (f.handshake_error) failures.push_back(fmt::format("upgrade refused: {}", *f.handshake_error));
  else if (f.awaited_reply && !f.reply) failures.push_back(fmt::format("no reply: {}", f.read_error));
  if (f.reply && spec.expect_regex) {
    auto m = spec.expect_regex->search(*f.reply);
    if (!m) {
      obs.outcome = Outcome::Error;
      obs.detail = m.error().message;
      return obs;
    }
    if (!*m) failures.push_back(fmt::format("reply does not match /{}/", spec.expect_regex_text));
  }
  if (spec.max_latency && f.elapsed > *spec.max_latency)
    failures.push_back(fmt::format("latency {} ms above max_latency {} ms", f.elapsed.count(), spec.max_latency->count()));
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = f.reply ? fmt::format("reply in {} ms", f.elapsed.count()) : fmt::format("connected in {} ms", f.elapsed.count());
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = text::join(failures, "; ");
    if (f.reply) obs.excerpt = secrets::excerpt(*f.reply);
  }
  return obs;
}

std::unique_ptr<Probe> make_websocket_probe(std::string name, Duration timeout, WebsocketProbeSpec spec) {
  return std::make_unique<WebsocketProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
