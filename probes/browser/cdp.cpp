// The DevTools protocol over two pipes on the loop: writes queued and sent
// one at a time, reads split on NUL and parsed with Boost.JSON.
#include "probes/browser/cdp.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <deque>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace dg::cdp {

namespace asio = boost::asio;
namespace json = boost::json;

struct CdpPipe::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& l, int to, int from) : loop(l), out(l), in(l) {
    ::fcntl(to, F_SETFL, O_NONBLOCK);
    ::fcntl(from, F_SETFL, O_NONBLOCK);
    boost::system::error_code ec;
    out.assign(to, ec);
    in.assign(from, ec);
  }

  asio::io_context& loop;
  asio::writable_pipe out;
  asio::readable_pipe in;
  std::deque<std::string> queue;  // front is being written
  std::unordered_map<long long, Reply> pending;
  long long next_id = 1;
  std::string buf;
  std::vector<char> chunk = std::vector<char>(256 * 1024);
  EventHandler events;
  std::function<void(const std::string&)> closed_handler;
  bool is_open = true;
  std::string why_closed;

  void start_reading() {
    in.async_read_some(asio::buffer(chunk), [w = weak_from_this()](boost::system::error_code ec, size_t n) {
      auto self = w.lock();
      if (!self) return;
      self->on_read(ec, n);
    });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    if (!is_open) return;
    buf.append(chunk.data(), n);
    size_t start = 0;
    for (size_t nul; (nul = buf.find('\0', start)) != std::string::npos; start = nul + 1) {
      dispatch(std::string_view(buf).substr(start, nul - start));
      if (!is_open) return;  // a handler closed us
    }
    buf.erase(0, start);
    if (buf.size() > kMaxMessage) return shut(fmt::format("a message from the browser is over {} MiB", kMaxMessage >> 20), true);
    if (ec) return shut(ec == asio::error::eof ? "the browser closed its DevTools pipe" : "DevTools pipe: " + ec.message(), true);
    start_reading();
  }

  void dispatch(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return;  // not ours to judge; the call it answers times out
    json::object& o = v.as_object();
    std::string session;
    if (auto* s = o.if_contains("sessionId"); s && s->is_string()) session = s->as_string();
    if (auto* id = o.if_contains("id"); id && id->is_int64()) {
      auto it = pending.find(id->as_int64());
      if (it == pending.end()) return;
      Reply reply = std::move(it->second);
      pending.erase(it);
      if (auto* err = o.if_contains("error"); err && err->is_object()) {
        std::string msg = "DevTools error";
        if (auto* m = err->as_object().if_contains("message"); m && m->is_string()) msg = m->as_string();
        reply(fail(msg));
      } else if (auto* r = o.if_contains("result"); r && r->is_object()) {
        reply(std::move(r->as_object()));
      } else {
        reply(json::object{});
      }
      return;
    }
    if (auto* m = o.if_contains("method"); m && m->is_string() && events) {
      static const json::object empty;
      const json::object* params = &empty;
      if (auto* p = o.if_contains("params"); p && p->is_object()) params = &p->as_object();
      events(std::string(m->as_string()), *params, session);
    }
  }

  void write_next() {
    if (queue.empty() || !is_open) return;
    asio::async_write(out, asio::buffer(queue.front()), [w = weak_from_this()](boost::system::error_code ec, size_t) {
      auto self = w.lock();
      if (!self || !self->is_open) return;
      self->queue.pop_front();
      if (ec) return self->shut("DevTools pipe: " + ec.message(), true);
      self->write_next();
    });
  }

  void shut(const std::string& why, bool by_itself) {
    if (!is_open) return;
    is_open = false;
    why_closed = why;
    boost::system::error_code ignored;
    out.close(ignored);
    in.close(ignored);
    queue.clear();
    // Pending calls complete with the reason, posted: a caller may be
    // inside a handler of ours.
    auto calls = std::move(pending);
    pending.clear();
    for (auto& [id, reply] : calls)
      asio::post(loop, [reply = std::move(reply), why] { reply(fail(why)); });
    if (by_itself && closed_handler) {
      auto h = std::move(closed_handler);
      h(why);
    }
  }
};

CdpPipe::CdpPipe(asio::io_context& loop, int to_browser, int from_browser)
    : impl_(std::make_shared<Impl>(loop, to_browser, from_browser)) {
  impl_->start_reading();
}

CdpPipe::~CdpPipe() {
  impl_->closed_handler = nullptr;
  impl_->events = nullptr;
  impl_->shut("the DevTools connection was closed", false);
}

void CdpPipe::call(const std::string& method, json::object params, const std::string& session, Reply reply) {
  if (!impl_->is_open) {
    asio::post(impl_->loop, [reply = std::move(reply), why = impl_->why_closed] { reply(fail(why)); });
    return;
  }
  long long id = impl_->next_id++;
  json::object msg{{"id", id}, {"method", method}, {"params", std::move(params)}};
  if (!session.empty()) msg["sessionId"] = session;
  std::string text = json::serialize(msg);
  text.push_back('\0');
  // Errors name the method, as the reason a probe run could not go on.
  impl_->pending.emplace(id, [method, reply = std::move(reply)](Result<json::object> r) {
    if (!r) return reply(fail(fmt::format("{}: {}", method, r.error().message)));
    reply(std::move(r));
  });
  bool idle = impl_->queue.empty();
  impl_->queue.push_back(std::move(text));
  if (idle) impl_->write_next();
}

void CdpPipe::on_event(EventHandler handler) { impl_->events = std::move(handler); }
void CdpPipe::on_closed(std::function<void(const std::string&)> handler) { impl_->closed_handler = std::move(handler); }
void CdpPipe::close(const std::string& why) { impl_->shut(why, false); }
bool CdpPipe::open() const { return impl_->is_open; }

}  // namespace dg::cdp
