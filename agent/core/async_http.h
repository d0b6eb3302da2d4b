#pragma once
/// AsyncHttp: HTTP exchanges on the watcher's event loop through libcurl's
/// multi interface, driven by socket and timer callbacks on that loop — no
/// thread per exchange (libcurl's own resolver thread for host names aside).
/// By default every exchange opens a new connection, as blackbox_exporter
/// does: a reused one would not notice a listener that stopped accepting.
/// HttpRequest::reuse_connection keeps one open for the next exchange to the
/// same host. Same request and response types, caps and errors as the
/// blocking http_perform (http_client.h). Loop thread only.
#include <functional>
#include <memory>

#include "agent/core/http_client.h"

namespace boost::asio {
class io_context;
}

namespace dg {

class AsyncHttp {
 public:
  using Done = std::function<void(Result<HttpResponse>)>;
  explicit AsyncHttp(boost::asio::io_context& loop);
  /// Aborts what is in flight; their callbacks are not called.
  ~AsyncHttp();
  AsyncHttp(const AsyncHttp&) = delete;
  AsyncHttp& operator=(const AsyncHttp&) = delete;

  /// Starts the exchange; `done` is called exactly once, on the loop's thread,
  /// never from inside perform().
  void perform(HttpRequest request, Done done);
  /// Exchanges started and not yet done.
  size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg
