// HttpListener over Boost.Beast: one session object per connection, plain or
// TLS (the same code, templated on the stream), driven on the caller's loop.
//
// A connection's life: [TLS handshake] → read a request's header → checks
// (rate, Expect) → read its body → hand it to the handler → wait for its
// Respond → write → next request (keep-alive) or close. Every step that
// waits on the peer runs under a deadline of beast::tcp_stream, which closes
// the socket when it passes: a deadline covers the whole step, however the
// peer spreads its bytes, which is what stops a slow-loris client.
#include <fcntl.h>
#include "agent/watch/http_listener.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <list>
#include <optional>
#include <type_traits>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

namespace dg {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool header_safe(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

std::string peer_address(const tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "";
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  return a.to_string();
}

bool mutating_method(http::verb v) {
  return v != http::verb::get && v != http::verb::head && v != http::verb::options;
}

// Parse errors that mean "the client sent something that is not HTTP we accept".
bool is_parse_error(const error_code& ec) { return ec.category() == http::make_error_code(http::error::bad_method).category(); }

/// After a response that closes the connection, the peer's unread bytes are
/// read and dropped for at most this long (and this much), so that closing
/// does not reset the connection before the peer has read the response.
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;

}  // namespace

const std::string* ServerRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

const std::string* ServerRequest::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return &v;
  return nullptr;
}

ServerResponse text_response(int status, std::string_view body) {
  ServerResponse r;
  r.status = status;
  r.body = std::string(body);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  /// On the loop's thread: the handler's answer.
  virtual void answer(ServerResponse response) = 0;
  /// On the loop's thread: close at once (stop()).
  virtual void close_now() = 0;
};

namespace {

/// What the acceptor and every session share; outlives the HttpListener
/// until the last session is gone.
struct Core : std::enable_shared_from_this<Core> {
  Core(net::io_context& l, ListenerSpec s, RequestHandler h)
      : loop(l),
        spec(std::move(s)),
        handler(std::move(h)),
        acceptor(l),
        retry(l),
        all(spec.requests, spec.max_tracked_clients),
        mutating(spec.mutating, spec.max_tracked_clients) {}

  void accept();
  void on_accept(error_code ec, tcp::socket socket);

  net::io_context& loop;
  ListenerSpec spec;
  RequestHandler handler;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor;
  net::steady_timer retry;  // after an accept error (EMFILE): try again shortly, do not spin
  RateLimiter all;
  RateLimiter mutating;
  ListenerStats stats;
  size_t rejecting = 0;  // plain connections being answered 503
  uint16_t port = 0;
  std::atomic<bool> stopped{false};
  std::list<std::weak_ptr<SessionBase>> sessions;  // for stop()
};

/// The Respond given to a handler: posts the answer to the session on the
/// loop's thread, once. Holds the session alive while the handler works.
struct Responder {
  Responder(std::shared_ptr<SessionBase> s, net::io_context& l) : session(std::move(s)), loop(l) {}
  ~Responder() {
    if (!done.load()) post(text_response(500, "the handler gave no response"));
  }
  void deliver(ServerResponse r) {
    if (done.exchange(true)) return;
    post(std::move(r));
  }
  void post(ServerResponse r) {
    // The session's last reference is released on the loop's thread, never
    // on the handler's worker thread.
    net::post(loop, [s = std::move(session), r = std::move(r)]() mutable { s->answer(std::move(r)); });
  }
  std::shared_ptr<SessionBase> session;
  net::io_context& loop;
  std::atomic<bool> done{false};
};

template <bool Tls>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Tls>> {
  using Stream = std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

 public:
  template <class... Tail>
  Session(std::shared_ptr<Core> impl, tcp::socket socket, bool reject, Tail&... tail)
      : impl_(std::move(impl)), remote_(peer_address(socket)), stream_(std::move(socket), tail...), reject_(reject) {
    if (reject_) {
      ++impl_->rejecting;
    } else {
      ++impl_->stats.open_connections;
    }
  }
  ~Session() override {
    if (registered_) impl_->sessions.erase(self_);
    if (reject_) {
      --impl_->rejecting;
    } else {
      --impl_->stats.open_connections;
    }
  }

  void start() {
    impl_->sessions.push_front(this->weak_from_this());
    self_ = impl_->sessions.begin();
    registered_ = true;
    if (reject_) {
      ServerResponse r = text_response(503, "too many connections");
      r.headers.emplace_back("Retry-After", "1");
      write(std::move(r), /*close=*/true);
      return;
    }
    lowest().expires_after(impl_->spec.read_timeout);
    if constexpr (Tls) {
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
        if (ec) {
          if (ec == beast::error::timeout) ++self->impl_->stats.timeouts;
          ++self->impl_->stats.tls_handshake_failures;
          return self->close_now();
        }
        self->read_header();
      });
    } else {
      read_header();
    }
  }

  void answer(ServerResponse response) override {
    if (closed_ || impl_->stopped) return;
    write(std::move(response), !keep_alive_);
  }

  void close_now() override {
    if (closed_) return;
    closed_ = true;
    lowest().close();
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // A kept-alive connection: wait for the next request's first byte under the
  // idle deadline, then read it under the read deadline.
  void read_next() {
    if (buffer_.size() > 0) {  // pipelined: already here
      lowest().expires_after(impl_->spec.read_timeout);
      return read_header();
    }
    lowest().expires_after(impl_->spec.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](error_code ec, size_t n) {
      if (ec) {
        if (ec == beast::error::timeout) ++self->impl_->stats.timeouts;
        return self->close_now();
      }
      self->buffer_.commit(n);
      self->lowest().expires_after(self->impl_->spec.read_timeout);
      self->read_header();
    });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<size_t>(impl_->spec.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(impl_->spec.max_body);
    http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](error_code ec, size_t) {
      self->on_header(ec);
    });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    // Counted before the body is read: an over-eager client costs a header.
    auto now = RateLimiter::Clock::now();
    auto key = rate_limit_key(remote_);
    std::optional<RateLimiter::Clock::duration> wait;
    if (mutating_method(req.method())) wait = impl_->mutating.take(key, now);
    if (!wait) wait = impl_->all.take(key, now);
    if (wait) {
      ++impl_->stats.rate_limited;
      auto secs = std::chrono::ceil<std::chrono::seconds>(*wait).count();
      ServerResponse r = text_response(429, "too many requests");
      r.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(secs, 1)));
      // A body left unread would be taken for the next request.
      return write(std::move(r), !keep_alive_ || !parser_->is_done());
    }
    if (parser_->is_done()) return dispatch();
    auto expect = req[http::field::expect];
    if (iequals(expect, "100-continue")) {
      continue_ = {};
      continue_.version(version_);
      continue_.result(http::status::continue_);
      return http::async_write(stream_, continue_, [self = this->shared_from_this()](error_code ec, size_t) {
        if (ec) return self->on_write_error(ec);
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](error_code ec, size_t) {
      if (ec) return self->on_read_error(ec);
      self->dispatch();
    });
  }

  void on_read_error(error_code ec) {
    if (ec == beast::error::timeout) {
      ++impl_->stats.timeouts;  // the stream has closed the socket already
      return close_now();
    }
    if (ec == http::error::header_limit) return reject_request(431, "request header too large");
    if (ec == http::error::body_limit) return reject_request(413, "request body too large");
    // The peer closed or reset: nobody is there to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || !is_parse_error(ec))
      return close_now();
    reject_request(400, "bad request: " + ec.message());
  }

  void reject_request(int status, std::string_view message) {
    ++impl_->stats.bad_requests;
    if (version_ == 0) version_ = 11;
    write(text_response(status, message), /*close=*/true);
  }

  void dispatch() {
    if (impl_->stopped) return close_now();
    auto& req = parser_->get();
    ServerRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto url = boost::urls::parse_origin_form(r.target);
    if (!url) url = boost::urls::parse_absolute_uri(r.target);
    if (!url) return reject_request(400, "bad request: the request target is not a path");
    r.path = url->path();
    if (r.path.empty()) r.path = "/";
    for (auto p : url->params(boost::urls::encoding_opts(/*space_as_plus=*/true)))
      r.query.emplace_back(std::move(p.key), std::move(p.value));
    for (const auto& f : req) r.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
    r.body = std::move(req.body());
    r.remote_address = remote_;
    head_ = req.method() == http::verb::head;
    ++impl_->stats.requests;
    // The handler's time is not the client's: no deadline while it works.
    lowest().expires_never();
    auto responder = std::make_shared<Responder>(this->shared_from_this(), impl_->loop);
    try {
      impl_->handler(r, [responder](ServerResponse resp) { responder->deliver(std::move(resp)); });
    } catch (...) {
      responder->deliver(text_response(500, "internal error"));
    }
  }

  void write(ServerResponse r, bool close) {
    res_ = {};
    res_.version(version_ == 10 ? 10 : 11);
    res_.result(r.status >= 100 && r.status <= 999 ? static_cast<unsigned>(r.status) : 500u);
    if (!r.content_type.empty() && header_safe(r.content_type)) res_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) {
      if (iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection"))
        continue;
      if (name.empty() || !header_safe(name) || !header_safe(value)) continue;
      res_.insert(name, value);
    }
    res_.body() = std::move(r.body);
    res_.keep_alive(!close);
    res_.prepare_payload();
    if (head_) res_.body().clear();  // Content-Length stays: that of the GET
    close_after_ = close;
    lowest().expires_after(impl_->spec.write_timeout);
    http::async_write(stream_, res_, [self = this->shared_from_this()](error_code ec, size_t) {
      if (ec) return self->on_write_error(ec);
      if (self->close_after_) return self->graceful_close();
      self->head_ = false;
      self->read_next();
    });
  }

  void on_write_error(error_code ec) {
    if (ec == beast::error::timeout) ++impl_->stats.timeouts;
    close_now();
  }

  void graceful_close() {
    if (closed_) return;
    lowest().expires_after(std::min<std::chrono::steady_clock::duration>(kLinger, impl_->spec.read_timeout));
    if constexpr (Tls) {
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close_now(); });
    } else {
      error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      drain();
    }
  }

  void drain() {
    lowest().async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ >= kLingerBytes) return self->close_now();
      self->drain();
    });
  }

  std::shared_ptr<Core> impl_;
  std::string remote_;
  Stream stream_;
  bool reject_;
  std::list<std::weak_ptr<SessionBase>>::iterator self_;
  bool registered_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> res_;
  unsigned version_ = 0;
  bool keep_alive_ = false;
  bool head_ = false;
  bool close_after_ = false;
  bool closed_ = false;
  std::array<char, 4096> scratch_{};
  size_t drained_ = 0;
};

void Core::accept() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Core::on_accept(error_code ec, tcp::socket socket) {
  if (!ec) ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
  if (stopped) return;
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of descriptors or memory: the backlog keeps the clients; retry soon.
    retry.expires_after(std::chrono::milliseconds(100));
    retry.async_wait([self = shared_from_this()](error_code wec) {
      if (!wec && !self->stopped) self->accept();
    });
    return;
  }
  ++stats.accepted;
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  bool over = stats.open_connections >= spec.max_connections;
  if (over) {
    ++stats.rejected_connections;
    // Past twice the limit, or over TLS, not even a 503: a flood gets a close.
    if (tls || rejecting >= spec.max_connections) {
      socket.close(ignored);
    } else {
      std::make_shared<Session<false>>(shared_from_this(), std::move(socket), true)->start();
    }
  } else if (tls) {
    std::make_shared<Session<true>>(shared_from_this(), std::move(socket), false, *tls)->start();
  } else {
    std::make_shared<Session<false>>(shared_from_this(), std::move(socket), false)->start();
  }
  accept();
}

}  // namespace

struct HttpListener::Impl {
  std::shared_ptr<Core> core;
};

Result<std::unique_ptr<HttpListener>> HttpListener::start(boost::asio::io_context& loop, ListenerSpec spec,
                                                          RequestHandler handler) {
  if (!handler) return fail("listener: no request handler");
  if (spec.max_connections == 0) return fail("listener: max_connections must be at least 1");
  error_code ec;
  auto address = net::ip::make_address(spec.address, ec);
  if (ec) return fail("invalid listen address '" + spec.address + "': an IPv4 or IPv6 address is needed");
  auto impl = std::make_shared<Core>(loop, std::move(spec), std::move(handler));
  const auto& s = impl->spec;
  if (s.tls_cert.empty() != s.tls_key.empty()) return fail("listener: tls_cert and tls_key go together");
  if (!s.tls_cert.empty()) {
    impl->tls.emplace(ssl::context::tls_server);
    impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                               ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                           ec);
    impl->tls->use_certificate_chain_file(s.tls_cert, ec);
    if (ec) return fail("cannot load TLS certificate '" + s.tls_cert + "': " + ec.message());
    impl->tls->use_private_key_file(s.tls_key, ssl::context::pem, ec);
    if (ec) return fail("cannot load TLS key '" + s.tls_key + "': " + ec.message());
  }
  tcp::endpoint ep(address, s.port);
  auto& a = impl->acceptor;
  auto where = [&] { return "cannot listen on " + endpoint_text(ep) + ": "; };
  if (a.open(ep.protocol(), ec); ec) return fail(where() + ec.message());
  // A child (a command probe, a rollback) must not inherit the listening
  // socket: it would keep the port after a kill -9 and block the restart.
  ::fcntl(a.native_handle(), F_SETFD, FD_CLOEXEC);
  // Lets a restarted watcher bind while its old connections sit in TIME_WAIT;
  // on Linux it does not let two listeners share a port.
  a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (a.bind(ep, ec); ec) return fail(where() + ec.message());
  if (a.listen(net::socket_base::max_listen_connections, ec); ec) return fail(where() + ec.message());
  impl->port = a.local_endpoint(ec).port();
  impl->accept();
  return std::unique_ptr<HttpListener>(new HttpListener(std::make_unique<Impl>(Impl{std::move(impl)})));
}

HttpListener::HttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpListener::~HttpListener() { stop(); }

uint16_t HttpListener::port() const { return impl_->core->port; }
bool HttpListener::tls() const { return impl_->core->tls.has_value(); }
ListenerStats HttpListener::stats() const { return impl_->core->stats; }

void HttpListener::stop() {
  auto& core = *impl_->core;
  if (core.stopped.exchange(true)) return;
  error_code ignored;
  core.acceptor.close(ignored);
  core.retry.cancel();
  // Lock first, then close: closing never runs a handler inline, but the
  // references must outlive the loop over the list.
  std::vector<std::shared_ptr<SessionBase>> live;
  for (auto& w : core.sessions)
    if (auto s = w.lock()) live.push_back(std::move(s));
  for (auto& s : live) s->close_now();
}

}  // namespace dg
