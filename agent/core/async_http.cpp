// AsyncHttp: libcurl's multi interface driven by the watcher's io_context.
//
// curl says which sockets it wants watched and for what (CURLMOPT_SOCKETFUNCTION)
// and when it next needs the time (CURLMOPT_TIMERFUNCTION); the loop watches
// them with one posix::stream_descriptor per socket and one steady_timer, and
// tells curl what happened with curl_multi_socket_action.
//
// Who closes a descriptor: the connections' sockets are opened and closed by
// us for curl (CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION), so their
// stream_descriptor lives exactly as long as the socket: a kept-alive
// connection stays registered with the reactor between exchanges (curl's
// "remove" then only means "not now"), and a close is asio's, with no stale
// registration left behind. Any other descriptor curl reports (the threaded
// resolver's socket pair) stays curl's: its stream_descriptor is released,
// never closed, when curl says it is done with it.
//
// Lifetime: every handler reaches the Impl through `alive`, a token the
// destructor clears first, and a socket's handlers hold the socket itself, so a
// handler that runs after the socket was dropped, or after AsyncHttp is gone,
// finds nothing to act on instead of freed memory.
#include "agent/core/async_http.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <optional>
#include <vector>

#include "agent/core/curl_exchange.h"
#include "agent/core/curl_lazy.h"

namespace dg {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// One exchange: the request (its body is sent from here), what curl's callbacks
// fill, the caller's callback and, once done, the result waiting to be
// delivered. Kept and reused with its easy handle after delivery.
struct Transfer {
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
  CURL* easy = nullptr;
  HttpRequest request;
  detail::CurlExchange exchange;
  AsyncHttp::Done done;
  std::optional<Result<HttpResponse>> result;
  size_t slot = 0;  // index in Impl::active
};

// Idle transfers kept for reuse (an easy handle set up anew costs more than a reset).
constexpr size_t kMaxIdle = 256;

}  // namespace

struct AsyncHttp::Impl {
  struct Socket {
    explicit Socket(asio::io_context& loop) : sd(loop) {}
    asio::posix::stream_descriptor sd;
    Impl* owner = nullptr;
    curl_socket_t fd = CURL_SOCKET_BAD;
    bool owned = false;   // opened through open_cb: closed by close_cb, not released
    bool watched = true;  // false once closed or released (or AsyncHttp is gone): late handlers do nothing
    int wanted = 0;       // CURL_POLL_IN / CURL_POLL_OUT bits, as curl last asked
    bool reading = false, writing = false;  // a wait is pending in that direction
  };

  explicit Impl(asio::io_context& l) : loop(l), timer(l), alive(std::make_shared<Impl*>(this)) {}
  ~Impl();

  void start(HttpRequest request, Done done);
  bool ensure_multi();
  std::unique_ptr<Transfer> take_transfer();
  void action(curl_socket_t fd, int flags);
  void collect();
  void complete(std::unique_ptr<Transfer> t);
  void deliver_ready();
  std::unique_ptr<Transfer> unlink(Transfer* t);
  Socket* track(curl_socket_t fd, bool owned);
  void forget(Socket* s);
  void arm(const std::shared_ptr<Socket>& s);
  static void on_ready(const std::shared_ptr<Socket>& s, error_code ec, int direction);
  void set_timer(long timeout_ms);
  void arm_timer();
  void on_timer();

  static int socket_cb(CURL*, curl_socket_t fd, int what, void* userp, void* socketp);
  static curl_socket_t open_cb(void* userp, curlsocktype purpose, curl_sockaddr* address);
  static int close_cb(void* userp, curl_socket_t fd);
  static int timer_cb(CURLM*, long timeout_ms, void* userp);

  asio::io_context& loop;
  CURLM* multi = nullptr;  // made on the first exchange: no libcurl for a watcher without HTTP
  std::string multi_error;
  size_t max_connects = 0;  // CURLMOPT_MAXCONNECTS as last set
  asio::steady_timer timer;
  bool timer_armed = false;
  // curl's deadline; the armed timer may be earlier (it then re-arms) but never later.
  std::optional<asio::steady_timer::time_point> deadline;
  std::shared_ptr<Impl*> alive;
  std::vector<std::shared_ptr<Socket>> sockets;   // by descriptor
  std::vector<std::unique_ptr<Transfer>> active;  // added to the multi handle
  std::vector<std::unique_ptr<Transfer>> ready;   // done, callback not yet called
  std::vector<std::unique_ptr<Transfer>> idle;
};

AsyncHttp::AsyncHttp(asio::io_context& loop) : impl_(std::make_unique<Impl>(loop)) {}
AsyncHttp::~AsyncHttp() = default;

void AsyncHttp::perform(HttpRequest request, Done done) { impl_->start(std::move(request), std::move(done)); }

size_t AsyncHttp::in_flight() const { return impl_->active.size() + impl_->ready.size(); }

AsyncHttp::Impl::~Impl() {
  *alive = nullptr;  // first: nothing posted or pending acts from here on
  // Removing a handle may call socket_cb / timer_cb: they only release and re-arm.
  for (auto& t : active) curl_multi_remove_handle(multi, t->easy);
  active.clear();  // without calling their callbacks
  ready.clear();
  idle.clear();
  if (multi != nullptr) curl_multi_cleanup(multi);  // closes cached connections (close_cb)
  for (auto& s : sockets)
    if (s) forget(s.get());  // none left unless curl lost one
  timer.cancel();
}

bool AsyncHttp::Impl::ensure_multi() {
  if (multi != nullptr) return true;
  if (!multi_error.empty()) return false;
  detail::curl_global_once();
  multi = curl_multi_init();
  if (multi == nullptr) {
    auto why = libcurl_load_error();
    multi_error = why ? *why : "cannot create an HTTP multi handle";
    return false;
  }
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  return true;
}

std::unique_ptr<Transfer> AsyncHttp::Impl::take_transfer() {
  if (!idle.empty()) {
    auto t = std::move(idle.back());
    idle.pop_back();
    curl_easy_reset(t->easy);
    return t;
  }
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  return t;
}

void AsyncHttp::Impl::start(HttpRequest request, Done done) {
  std::unique_ptr<Transfer> t;
  if (ensure_multi()) t = take_transfer();
  if (!t || t->easy == nullptr) {
    if (!t) t = std::make_unique<Transfer>();
    t->done = std::move(done);
    t->result = fail(multi_error.empty() ? "cannot create an HTTP client handle" : multi_error);
    complete(std::move(t));
    return;
  }
  t->request = std::move(request);
  t->done = std::move(done);
  t->exchange.prepare(t->easy, t->request);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t.get());
  // A new connection per exchange unless asked: a kept one would hide a
  // listener that stopped accepting (blackbox_exporter does the same).
  long fresh = t->request.reuse_connection ? 0L : 1L;
  curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, fresh);
  curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, fresh);
  curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETFUNCTION, open_cb);
  curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(t->easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
  curl_easy_setopt(t->easy, CURLOPT_CLOSESOCKETDATA, this);
  // Added before the multi handle sees it: curl may call back (timer_cb) inside.
  t->slot = active.size();
  active.push_back(std::move(t));
  // Room in curl's cache for a kept connection per exchange in flight: its
  // default, 4 x the handles added right now, shrinks while a batch of done
  // transfers is removed and would close kept connections in between.
  if (active.size() > max_connects) {
    max_connects = std::max<size_t>(2 * active.size(), 16);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_connects));
  }
  Transfer* raw = active.back().get();
  CURLMcode mc = curl_multi_add_handle(multi, raw->easy);
  if (mc != CURLM_OK) {
    auto failed = unlink(raw);
    failed->result = fail(curl_multi_strerror(mc));
    complete(std::move(failed));
  }
}

std::unique_ptr<Transfer> AsyncHttp::Impl::unlink(Transfer* t) {
  size_t slot = t->slot;
  auto out = std::move(active[slot]);
  if (slot + 1 != active.size()) {
    active[slot] = std::move(active.back());
    active[slot]->slot = slot;
  }
  active.pop_back();
  return out;
}

void AsyncHttp::Impl::action(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi, fd, flags, &running);
  collect();
}

void AsyncHttp::Impl::collect() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    CURLcode rc = m->data.result;  // m is gone once the handle is removed
    Transfer* t = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
    curl_multi_remove_handle(multi, easy);
    auto done = unlink(t);
    done->result = done->exchange.finish(easy, rc);
    complete(std::move(done));
  }
}

// Callbacks are called from a handler of their own, never from inside
// perform() or a curl call: one posted handler delivers all that are ready.
void AsyncHttp::Impl::complete(std::unique_ptr<Transfer> t) {
  ready.push_back(std::move(t));
  if (ready.size() > 1) return;  // a delivery is already posted
  asio::post(loop, [alive = alive] {
    if (Impl* self = *alive) self->deliver_ready();
  });
}

void AsyncHttp::Impl::deliver_ready() {
  std::vector<std::unique_ptr<Transfer>> batch;
  batch.swap(ready);
  auto token = alive;  // a callback may destroy the AsyncHttp
  for (auto& t : batch) {
    if (*token == nullptr) return;  // gone: the rest are dropped, uncalled
    Done done = std::move(t->done);
    Result<HttpResponse> result = std::move(*t->result);
    t->result.reset();
    if (t->easy != nullptr && idle.size() < kMaxIdle) {
      t->request = HttpRequest{};
      idle.push_back(std::move(t));
    } else {
      t.reset();
    }
    done(std::move(result));
  }
}

AsyncHttp::Impl::Socket* AsyncHttp::Impl::track(curl_socket_t fd, bool owned) {
  if (static_cast<size_t>(fd) >= sockets.size()) sockets.resize(static_cast<size_t>(fd) + 1);
  // A socket still here means its descriptor was closed without a word (curl
  // closing a borrowed one) and the number came back: drop the old
  // registration, closing nothing, since the number is the new socket's now.
  if (auto& stale = sockets[fd]) {
    stale->owned = false;
    forget(stale.get());
  }
  auto s = std::make_shared<Socket>(loop);
  s->owner = this;
  s->fd = fd;
  s->owned = owned;
  sockets[fd] = s;
  return s.get();
}

// Stops watching: waits pending end with operation_aborted. An owned socket
// is closed with it; a borrowed one is only deregistered and stays curl's.
void AsyncHttp::Impl::forget(Socket* s) {
  s->watched = false;
  error_code ec;
  if (s->owned) {
    if (s->sd.is_open()) s->sd.close(ec);
    else ::close(s->fd);
  } else if (s->sd.is_open()) {
    s->sd.release();
  }
  sockets[s->fd].reset();  // last: `s` may die here
}

curl_socket_t AsyncHttp::Impl::open_cb(void* userp, curlsocktype, curl_sockaddr* address) {
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  static_cast<Impl*>(userp)->track(fd, true);  // watched from curl's first request on
  return fd;
}

int AsyncHttp::Impl::close_cb(void* userp, curl_socket_t fd) {
  auto* self = static_cast<Impl*>(userp);
  if (static_cast<size_t>(fd) < self->sockets.size() && self->sockets[fd] && self->sockets[fd]->owned)
    self->forget(self->sockets[fd].get());
  else
    ::close(fd);  // not one of ours (cannot happen): still curl's wish
  return 0;
}

void AsyncHttp::Impl::arm(const std::shared_ptr<Socket>& s) {
  if (!s->sd.is_open()) return;
  if ((s->wanted & CURL_POLL_IN) && !s->reading) {
    s->reading = true;
    s->sd.async_wait(asio::posix::stream_descriptor::wait_read,
                     [s](error_code ec) { on_ready(s, ec, CURL_CSELECT_IN); });
  }
  if ((s->wanted & CURL_POLL_OUT) && !s->writing) {
    s->writing = true;
    s->sd.async_wait(asio::posix::stream_descriptor::wait_write,
                     [s](error_code ec) { on_ready(s, ec, CURL_CSELECT_OUT); });
  }
}

void AsyncHttp::Impl::on_ready(const std::shared_ptr<Socket>& s, error_code ec, int direction) {
  bool in = direction == CURL_CSELECT_IN;
  (in ? s->reading : s->writing) = false;
  if (!s->watched || ec == asio::error::operation_aborted) return;
  // A wait that outlived curl's interest in its direction ends here.
  if (!(s->wanted & (in ? CURL_POLL_IN : CURL_POLL_OUT))) return;
  Impl* self = s->owner;  // alive, since the socket is still watched
  self->action(s->fd, direction | (ec ? CURL_CSELECT_ERR : 0));
  // Wait again if curl still wants this direction (it may have dropped the
  // socket meanwhile). Not after a failed wait, which would fail again at
  // once: curl's own timeout then ends the transfer instead of a busy loop.
  if (s->watched && !ec) self->arm(s);
}

int AsyncHttp::Impl::socket_cb(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* self = static_cast<Impl*>(userp);
  auto* s = static_cast<Socket*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (s == nullptr) return 0;
    if (s->owned) s->wanted = 0;  // kept registered until close_cb: a cached connection comes back
    else self->forget(s);
    return 0;
  }
  if (s == nullptr) {
    bool ours = static_cast<size_t>(fd) < self->sockets.size() && self->sockets[fd] && self->sockets[fd]->owned;
    s = ours ? self->sockets[fd].get() : self->track(fd, false);
    curl_multi_assign(self->multi, fd, s);
  }
  if (!s->sd.is_open()) {
    error_code ec;
    s->sd.assign(fd, ec);  // a descriptor asio cannot watch is left to curl's own timeout
  }
  s->wanted = what;
  self->arm(self->sockets[fd]);
  return 0;
}

int AsyncHttp::Impl::timer_cb(CURLM*, long timeout_ms, void* userp) {
  static_cast<Impl*>(userp)->set_timer(timeout_ms);
  return 0;
}

// curl moves its deadline often (every transfer added or progressing); the
// timer is re-armed only when the deadline comes earlier than it, else it
// fires early once and waits again, which costs less than a cancel each time.
void AsyncHttp::Impl::set_timer(long timeout_ms) {
  if (timeout_ms < 0) {
    // Nothing to time: an armed timer would keep the loop from running out of work.
    deadline.reset();
    if (timer_armed) timer.cancel();
    timer_armed = false;
    return;
  }
  deadline = asio::steady_timer::clock_type::now() + std::chrono::milliseconds(timeout_ms);
  arm_timer();
}

void AsyncHttp::Impl::arm_timer() {
  if (timer_armed && timer.expiry() <= *deadline) return;
  timer.expires_at(*deadline);
  timer_armed = true;
  timer.async_wait([alive = alive](error_code ec) {
    Impl* self = *alive;
    if (self == nullptr || ec == asio::error::operation_aborted) return;
    self->timer_armed = false;
    self->on_timer();
  });
}

void AsyncHttp::Impl::on_timer() {
  if (!deadline) return;
  if (*deadline > asio::steady_timer::clock_type::now()) {
    arm_timer();
    return;
  }
  deadline.reset();
  action(CURL_SOCKET_TIMEOUT, 0);
}

}  // namespace dg
