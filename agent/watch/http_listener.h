#pragma once
/// HttpListener: the watcher's HTTP/1.1 server (plain or TLS) on its one event
/// loop. It owns the transport and its bounds — connection count, read and
/// idle timeouts, header and body sizes, request rate per client — and hands
/// each well-formed request to one handler, which may answer at once or later
/// (after a journal append, say) through the Respond it is given.
///
/// Threads: start(), port(), stats() and stop() on the loop's thread (or
/// before the loop runs); the loop runs on one thread. A Respond may be
/// called from any thread. No Asio or Beast here: this header is included by
/// the watcher's routes, the transport's headers only in http_listener.cpp.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/error.h"
#include "agent/watch/rate_limit.h"

namespace boost::asio {
class io_context;
}

namespace dg {

struct ListenerSpec {
  /// An IP literal (IPv4 or IPv6); "::" listens on both families.
  std::string address = "127.0.0.1";
  /// 0: an ephemeral port, read back with HttpListener::port().
  uint16_t port = 0;
  /// PEM files; both set: TLS only (1.2 or later), no plain HTTP on the port.
  std::string tls_cert;
  std::string tls_key;

  size_t max_body = 64 * 1024;         ///< request body bytes; more → 413
  size_t max_header_bytes = 8 * 1024;  ///< request line and headers; more → 431
  /// Open connections. Past it a plain connection is answered 503 and
  /// closed (past twice it, only closed); a TLS one is closed without a
  /// handshake (the handshake is the expensive part a flood should not get).
  size_t max_connections = 64;
  /// From the connection's start (TLS handshake included), or from a kept-
  /// alive request's first byte, until the whole request is read. A client
  /// that trickles its headers is closed when it runs out.
  Duration read_timeout{10'000};
  /// A kept-alive connection waiting for its next request's first byte.
  Duration idle_timeout{30'000};
  /// Writing one response.
  Duration write_timeout{10'000};
  /// Per client address (IPv6: per /64): every request, and on top of it
  /// methods other than GET, HEAD and OPTIONS. Over it → 429 + Retry-After.
  RateLimit requests{20, 40};
  RateLimit mutating{1, 5};
  size_t max_tracked_clients = 4096;
};

/// Headers as received, names lower-cased, in order.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ServerRequest {
  std::string method;  ///< as sent: "GET", "POST", ...
  std::string target;  ///< the request-target as sent, e.g. "/api/v1/decisions?limit=5"
  std::string path;    ///< percent-decoded path, without the query
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded ('+' is a space), in order
  HeaderList headers;
  std::string body;
  std::string remote_address;  ///< the peer's IP address ("127.0.0.1", "::1")

  /// First value of a header, name compared case-insensitively; nullptr if absent.
  const std::string* header(std::string_view name) const;
  /// First value of a query parameter; nullptr if absent.
  const std::string* query_param(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  /// Extra headers. Content-Length, Transfer-Encoding and Connection belong
  /// to the listener and are ignored here.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A plain-text response ("text/plain; charset=utf-8"), the body ending in a newline.
ServerResponse text_response(int status, std::string_view body);

/// Answers one request. Call it once, from any thread; later calls are
/// ignored. Dropping every copy without calling it answers 500, so a
/// forgotten path cannot hold a connection open. After stop() it does nothing.
using Respond = std::function<void(ServerResponse)>;
/// Runs on the loop's thread for each request that passed the listener's
/// checks. It must not block the loop; it may keep `respond` for later.
using RequestHandler = std::function<void(const ServerRequest&, Respond)>;

/// Counts since start, for the watcher's own metrics and for tests.
struct ListenerStats {
  size_t open_connections = 0;
  uint64_t accepted = 0;
  uint64_t rejected_connections = 0;  ///< over max_connections
  uint64_t requests = 0;              ///< handed to the handler
  uint64_t rate_limited = 0;          ///< answered 429
  uint64_t bad_requests = 0;          ///< answered 400, 413 or 431
  uint64_t timeouts = 0;              ///< closed for a read, idle or write timeout
  uint64_t tls_handshake_failures = 0;
};

class HttpListener {
 public:
  /// Binds and starts accepting. Errors: an address that is not an IP
  /// literal, a TLS certificate or key that cannot be loaded, a port that
  /// cannot be bound ("cannot listen on 127.0.0.1:9464: address already in use").
  static Result<std::unique_ptr<HttpListener>> start(boost::asio::io_context& loop, ListenerSpec spec,
                                                     RequestHandler handler);
  /// stop()s.
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  /// The port bound (the kernel's choice when the spec said 0).
  uint16_t port() const;
  bool tls() const;
  ListenerStats stats() const;
  /// Stops accepting and closes every connection, in flight or idle;
  /// responses still pending are dropped. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit HttpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg
