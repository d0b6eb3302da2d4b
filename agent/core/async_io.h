#pragma once
/// AsyncIo: what a signal or an action needs to run without blocking — the
/// watcher's one event loop and its HTTP multi handle. References only, and
/// no Asio here: this header is included widely (probes, metric sources,
/// rollbacks), the loop's headers only where it is driven.
#include <functional>

namespace boost::asio {
class io_context;
}

namespace dg {

class AsyncHttp;

struct AsyncIo {
  boost::asio::io_context& loop;
  AsyncHttp& http;
};

/// For implementations that have no asynchronous form yet: runs `work` on a
/// thread of its own and then `then` on the loop's thread. Every built-in
/// probe, source and rollback has a real asynchronous form; this is the
/// fallback of the interfaces' default, so a plugin without one still works.
void offload(boost::asio::io_context& loop, std::function<void()> work, std::function<void()> then);

}  // namespace dg
