#pragma once
/// CdpPipe: the Chrome DevTools Protocol over Chromium's
/// --remote-debugging-pipe (the browser reads commands on its fd 3 and writes
/// answers and events on fd 4; each message is one JSON text followed by a
/// NUL). Both ends are read and written by an Asio loop; no thread.
///
/// Threads: every call, and every callback, on the loop's thread. Callbacks
/// never run inside call(). After the pipe closes (EOF, error, close()),
/// every pending call completes with an Error and later calls fail the same
/// way, posted.
#include <functional>
#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "agent/core/error.h"

namespace boost::asio {
class io_context;
}

namespace dg::cdp {

using Reply = std::function<void(Result<boost::json::object>)>;
/// An event: its method, its params, and the session it came from ("" for the browser's).
using EventHandler = std::function<void(const std::string& method, const boost::json::object& params,
                                        const std::string& session)>;

class CdpPipe {
 public:
  /// Takes ownership of `to_browser` (our write end of its fd 3) and
  /// `from_browser` (our read end of its fd 4).
  CdpPipe(boost::asio::io_context& loop, int to_browser, int from_browser);
  ~CdpPipe();
  CdpPipe(const CdpPipe&) = delete;
  CdpPipe& operator=(const CdpPipe&) = delete;

  /// Sends one command; `reply` gets its "result" or an Error with the
  /// protocol's message ("Target.createTarget: No target with given id").
  void call(const std::string& method, boost::json::object params, const std::string& session, Reply reply);
  void on_event(EventHandler handler);
  /// Called once when the pipe closes by itself (the browser went away).
  void on_closed(std::function<void(const std::string& why)> handler);
  void close(const std::string& why);
  bool open() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Largest message accepted from the browser (a full-page PNG in base64 is
/// the biggest thing it sends us).
inline constexpr size_t kMaxMessage = 64u << 20;

}  // namespace dg::cdp
