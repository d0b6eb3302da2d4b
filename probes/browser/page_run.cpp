// One page run as a chain of DevTools calls on the loop. Every stage is
// bounded by one deadline (the probe's timeout); the screenshot of a failed
// run has 2 s of its own after it. Events of the page's session (network,
// console, exceptions, load) are folded into PageFacts as they come.
#include "probes/browser/page_run.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <unordered_map>

#include <fmt/format.h>

#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "probes/browser/artifacts.h"
#include "probes/browser/page_facts.h"

namespace dg {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using Steady = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kScreenshotBound = std::chrono::seconds(2);
/// Opening a tab (context, target, session, domains) takes tens of ms; a
/// loaded machine can make it seconds, which is still not the page's fault.
constexpr Duration kTabBound{5000};
constexpr size_t kLogLines = 400;
constexpr size_t kLogBytes = 64 * 1024;

std::string str(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return "";
}
long long num(const json::object& o, std::string_view key, long long dflt = 0) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<long long>(v->as_uint64());
    if (v->is_double()) return static_cast<long long>(v->as_double());
  }
  return dflt;
}
const json::object& obj(const json::object& o, std::string_view key) {
  static const json::object empty;
  if (auto* v = o.if_contains(key); v && v->is_object()) return v->as_object();
  return empty;
}

std::string basename_of(const std::string& url) {
  auto q = url.find_first_of("?#");
  std::string u = url.substr(0, q);
  auto slash = u.rfind('/');
  return slash == std::string::npos ? u : u.substr(slash + 1);
}

std::string js_string(const std::string& s) { return json::serialize(json::value(s)); }

// "TypeError: x is undefined at editor.js:42": the first line of the
// description, where it was thrown (1-based line, as an editor shows it).
std::string describe_exception(const json::object& details) {
  const json::object& ex = obj(details, "exception");
  std::string what = str(ex, "description");
  if (what.empty()) what = str(details, "text");
  if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
  std::string url = str(details, "url");
  long long line = num(details, "lineNumber", -1);
  if (url.empty()) {
    const json::object& st = obj(details, "stackTrace");
    if (auto* frames = st.if_contains("callFrames"); frames && frames->is_array() && !frames->as_array().empty() &&
                                                     frames->as_array()[0].is_object()) {
      url = str(frames->as_array()[0].as_object(), "url");
      line = num(frames->as_array()[0].as_object(), "lineNumber", -1);
    }
  }
  if (!url.empty()) what += fmt::format(" at {}:{}", basename_of(url), line + 1);
  return what;
}

std::string console_text(const json::object& params) {
  std::vector<std::string> parts;
  if (auto* args = params.if_contains("args"); args && args->is_array())
    for (const auto& a : args->as_array()) {
      if (!a.is_object()) continue;
      const json::object& o = a.as_object();
      if (auto* v = o.if_contains("value"); v && v->is_string()) parts.emplace_back(v->as_string());
      else if (v) parts.push_back(json::serialize(*v));
      else parts.push_back(str(o, "description"));
    }
  return text::join(parts, " ");
}

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // '=' padding, whitespace
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool is_asset(const std::string& type) { return type == "Script" || type == "Stylesheet"; }

class PageRun : public std::enable_shared_from_this<PageRun> {
 public:
  PageRun(std::shared_ptr<Browser> b, std::string probe, std::shared_ptr<const BrowserProbeSpec> spec, Duration timeout,
          TimePoint at, std::function<void(Observation)> done)
      : browser_(std::move(b)),
        probe_(std::move(probe)),
        spec_(std::move(spec)),
        at_(at),
        done_(std::move(done)),
        timer_(browser_->loop()),
        deadline_timer_(browser_->loop()) {
    started_ = Steady::now();
    deadline_ = started_ + timeout;
    timeout_ = timeout;
  }

  void start() {
    browser_->acquire([self = shared_from_this()](Result<std::shared_ptr<cdp::CdpPipe>> pipe) {
      self->acquired_ = true;
      if (!pipe) return self->browser_failed(pipe.error().message);
      self->pipe_ = *pipe;
      // The timeout is the page's: it starts at the navigation. A cold
      // start is bounded by the browser's own launch_timeout, and opening
      // the tab by kTabBound or the timeout (past it the browser is the one
      // not answering: an error), so a busy machine is not blamed on the page.
      self->arm_deadline(std::max<Duration>(self->timeout_, kTabBound));
      self->create_context();
    });
  }

 private:
  using Next = std::function<void(json::object)>;

  // One call whose failure ends the run as the browser's error.
  void call(const std::string& method, json::object params, Next next, bool in_session = true) {
    if (finished_ || !pipe_) return;
    pipe_->call(method, std::move(params), in_session ? session_ : std::string(),
                [self = shared_from_this(), next = std::move(next)](Result<json::object> r) {
                  if (self->finished_) return;
                  if (!r) return self->browser_failed(r.error().message);
                  next(std::move(*r));
                });
  }

  void create_context() {
    stage_ = "creating a browser context";
    call("Target.createBrowserContext", {{"disposeOnDetach", true}}, [this](json::object r) {
      context_ = str(r, "browserContextId");
      stage_ = "opening a tab";
      call("Target.createTarget",
           {{"url", "about:blank"}, {"browserContextId", context_}, {"width", spec_->viewport_width},
            {"height", spec_->viewport_height}},
           [this](json::object r) {
             target_ = str(r, "targetId");
             call("Target.attachToTarget", {{"targetId", target_}, {"flatten", true}}, [this](json::object r) {
               session_ = str(r, "sessionId");
               auto w = weak_from_this();
               auto handler = [w](const std::string& method, const json::object& params, const std::string&) {
                 if (auto self = w.lock()) self->on_event(method, params);
               };
               browser_->subscribe(session_, handler);
               browser_->subscribe(target_, handler);
               subscribed_ = true;
               enable();
             }, false);
           }, false);
    }, false);
  }

  void enable() {
    stage_ = "preparing the tab";
    // Sent back to back; the session answers in order, so the last reply
    // means all were applied.
    std::vector<std::pair<std::string, json::object>> calls = {
        {"Page.enable", {}}, {"Runtime.enable", {}}, {"Network.enable", {}},
        {"Emulation.setDeviceMetricsOverride",
         {{"width", spec_->viewport_width}, {"height", spec_->viewport_height}, {"deviceScaleFactor", 1}, {"mobile", false}}}};
    if (!spec_->headers.empty()) {
      json::object h;
      for (const auto& [k, v] : spec_->headers) h[k] = v;
      calls.push_back({"Network.setExtraHTTPHeaders", {{"headers", std::move(h)}}});
    }
    if (!spec_->cookies.empty()) {
      json::array cookies;
      for (const auto& [k, v] : spec_->cookies) cookies.push_back({{"name", k}, {"value", v}, {"url", spec_->url}});
      calls.push_back({"Network.setCookies", {{"cookies", std::move(cookies)}}});
    }
    auto left = std::make_shared<size_t>(calls.size());
    for (auto& [method, params] : calls)
      call(method, std::move(params), [this, left](json::object) {
        if (--*left == 0) navigate();
      });
  }

  void arm_deadline(Duration d) {
    deadline_ = Steady::now() + d;
    deadline_timer_.expires_at(deadline_);
    deadline_timer_.async_wait([self = shared_from_this(), gen = ++deadline_gen_](boost::system::error_code ec) {
      if (!ec && gen == self->deadline_gen_) self->on_deadline();
    });
  }

  void navigate() {
    stage_ = "loading the page";
    nav_started_ = Steady::now();
    arm_deadline(timeout_);
    log("navigate " + spec_->url);
    call("Page.navigate", {{"url", spec_->url}}, [this](json::object r) {
      std::string err = str(r, "errorText");
      loader_ = str(r, "loaderId");
      if (!err.empty() && facts_.document_status == 0) {
        facts_.navigation_error = err;
        return finish();
      }
      navigated_ = true;
      if (loaded_) after_load();
    });
  }

  void on_event(const std::string& method, const json::object& p) {
    if (finished_) return;
    if (method == "Network.requestWillBeSent") {
      const json::object& req = obj(p, "request");
      requests_[str(p, "requestId")] = {str(req, "method"), str(req, "url"), str(p, "type")};
    } else if (method == "Network.responseReceived") {
      const json::object& resp = obj(p, "response");
      std::string id = str(p, "requestId"), type = str(p, "type"), url = str(resp, "url");
      int status = static_cast<int>(num(resp, "status"));
      log(fmt::format("{} {} {} ({})", requests_[id].method.empty() ? "GET" : requests_[id].method, url, status, type));
      // The main frame's id is its target's: its last document (after any
      // redirect) is the page's answer.
      if (type == "Document" && str(p, "frameId") == target_) facts_.document_status = status;
      if (is_asset(type) && status >= 400)
        facts_.failed_requests.push_back({requests_[id].method.empty() ? "GET" : requests_[id].method, url, type, status, ""});
    } else if (method == "Network.loadingFailed") {
      std::string id = str(p, "requestId"), type = str(p, "type"), err = str(p, "errorText");
      const auto& req = requests_[id];
      log(fmt::format("{} {} failed: {} ({})", req.method, req.url, err, type));
      bool canceled = false;
      if (auto* c = p.if_contains("canceled"); c && c->is_bool()) canceled = c->as_bool();
      if (type == "Document" && facts_.document_status == 0 && !canceled) {
        facts_.navigation_error = err;
        return finish();
      }
      // Only a failure that did not come with a response: a 404 is counted
      // from responseReceived already.
      bool answered = false;
      for (const auto& f : facts_.failed_requests) answered = answered || f.url == req.url;
      if (is_asset(type) && !canceled && !answered) facts_.failed_requests.push_back({req.method, req.url, type, 0, err});
    } else if (method == "Runtime.exceptionThrown") {
      std::string e = describe_exception(obj(p, "exceptionDetails"));
      log("uncaught " + e);
      facts_.exceptions.push_back(std::move(e));
    } else if (method == "Runtime.consoleAPICalled") {
      std::string type = str(p, "type");
      std::string t = console_text(p);
      log(fmt::format("console.{}: {}", type, t));
      if (type == "error" || type == "assert") facts_.console_errors.push_back(std::move(t));
    } else if (method == "Page.loadEventFired") {
      if (loaded_) return;
      loaded_ = true;
      facts_.load_time = std::chrono::duration_cast<Duration>(Steady::now() - nav_started_);
      log(fmt::format("load event after {} ms", facts_.load_time->count()));
      if (navigated_) after_load();
    } else if (method == "Inspector.targetCrashed" || method == "Target.targetCrashed") {
      browser_failed("the page's renderer crashed");
    } else if (method == "Browser.closed") {
      browser_failed(str(p, "reason"));
    }
  }

  void log(std::string line) {
    if (log_lines_ >= kLogLines || log_.size() >= kLogBytes) return;
    ++log_lines_;
    double t = std::chrono::duration<double>(Steady::now() - started_).count();
    log_ += fmt::format("+{:.3f}s {}\n", t, line);
  }

  void after_load() {
    if (after_load_started_) return;
    after_load_started_ = true;
    next_step(0);
  }

  // Steps run in order; one that cannot act (no element yet) is retried
  // until the deadline, as a person would wait for the page.
  void next_step(size_t i) {
    if (finished_) return;
    if (i >= spec_->steps.size()) {
      step_ = -1;
      return check();
    }
    step_ = static_cast<int>(i);
    const BrowserStep& s = spec_->steps[i];
    stage_ = fmt::format("step {}", i + 1);
    if (s.kind == BrowserStep::Kind::Wait) {
      timer_.expires_after(s.wait);
      timer_.async_wait([self = shared_from_this(), i](boost::system::error_code ec) {
        if (!ec && !self->finished_) self->next_step(i + 1);
      });
      return;
    }
    std::string sel = js_string(s.selector);
    std::string expr;
    switch (s.kind) {
      case BrowserStep::Kind::Click:
        expr = fmt::format("(() => {{ const e = document.querySelector({}); if (!e) return false; e.scrollIntoView(); e.click(); return true; }})()", sel);
        break;
      case BrowserStep::Kind::Type:
        expr = fmt::format("(() => {{ const e = document.querySelector({}); if (!e) return false; e.focus(); return document.activeElement === e; }})()", sel);
        break;
      default:
        expr = fmt::format("!!document.querySelector({})", sel);
    }
    evaluate(expr, [this, i](std::string r) {
      const BrowserStep& s = spec_->steps[i];
      if (r == "") {
        log(fmt::format("step {} done", i + 1));
        if (s.kind == BrowserStep::Kind::Type)
          return call("Input.insertText", {{"text", s.text}}, [this, i](json::object) { next_step(i + 1); });
        return next_step(i + 1);
      }
      if (Steady::now() + kPoll >= deadline_) {
        step_failed(i);
        return finish();
      }
      later([this, i] { next_step(i); });
    });
  }

  void step_failed(size_t i) {
    const BrowserStep& s = spec_->steps[i];
    const char* verb = s.kind == BrowserStep::Kind::Click ? "click" : s.kind == BrowserStep::Kind::Type ? "type into" : "wait for";
    facts_.step_failure = fmt::format("step {} ({} {}): no element matches after {}", i + 1, verb, s.selector,
                                      seconds_text(since_nav()));
  }

  // `cb` gets "" when the expression is truthy, "false", or "threw: …".
  void evaluate(const std::string& expr, std::function<void(std::string)> cb) {
    call("Runtime.evaluate", {{"expression", expr}, {"returnByValue", true}, {"awaitPromise", false}},
         [cb = std::move(cb)](json::object r) {
           if (auto* ed = r.if_contains("exceptionDetails"); ed && ed->is_object())
             return cb("threw: " + describe_exception(ed->as_object()));
           const json::object& res = obj(r, "result");
           const json::value* v = res.if_contains("value");
           bool truthy = v && !v->is_null() && !(v->is_bool() && !v->as_bool()) &&
                         !(v->is_number() && v->to_number<double>() == 0) && !(v->is_string() && v->as_string().empty());
           std::string type = str(res, "type");
           if (!v && (type == "object" || type == "function")) truthy = str(res, "subtype") != "null";
           cb(truthy ? "" : "false");
         });
  }

  void later(std::function<void()> f) {
    timer_.expires_after(kPoll);
    timer_.async_wait([self = shared_from_this(), f = std::move(f)](boost::system::error_code ec) {
      if (!ec && !self->finished_) f();
    });
  }

  Duration since_nav() const { return std::chrono::duration_cast<Duration>(Steady::now() - nav_started_); }

  // One look at the DOM and JavaScript expectations: selectors in one
  // evaluation, each expression in its own (one that throws or does not
  // parse spoils only itself).
  void check() {
    stage_ = "waiting for the expectations";
    const BrowserExpect& ex = spec_->expect;
    std::string sel = "(() => { const q = (s) => { try { return document.querySelector(s); } catch (e) { return null; } };"
                      " const vis = (s) => { const e = q(s); if (!e) return 0; const r = e.getBoundingClientRect();"
                      " const st = getComputedStyle(e); return (r.width > 0 && r.height > 0 && st.visibility !== 'hidden'"
                      " && st.display !== 'none' && st.opacity !== '0') ? 2 : 1; }; return { p: [";
    for (const auto& s : ex.selector_present) sel += "!!q(" + js_string(s) + "),";
    sel += "], v: [";
    for (const auto& s : ex.selector_visible) sel += "vis(" + js_string(s) + "),";
    sel += "] }; })()";
    auto left = std::make_shared<size_t>(1 + ex.js_true.size());
    auto done_one = [this, left] {
      if (--*left == 0) judge();
    };
    facts_.js.assign(ex.js_true.size(), "not evaluated");
    call("Runtime.evaluate", {{"expression", sel}, {"returnByValue", true}}, [this, done_one](json::object r) {
      const json::object& v = obj(obj(r, "result"), "value");
      facts_.present.clear();
      facts_.visible.clear();
      if (auto* p = v.if_contains("p"); p && p->is_array())
        for (const auto& x : p->as_array()) facts_.present.push_back(x.is_bool() && x.as_bool());
      if (auto* s = v.if_contains("v"); s && s->is_array())
        for (const auto& x : s->as_array()) facts_.visible.push_back(x.is_int64() ? static_cast<int>(x.as_int64()) : 0);
      done_one();
    });
    for (size_t i = 0; i < ex.js_true.size(); ++i)
      evaluate(ex.js_true[i], [this, i, done_one](std::string r) {
        facts_.js[i] = std::move(r);
        done_one();
      });
  }

  void judge() {
    facts_.waited = since_nav();
    bool dom_ok = true;
    for (bool p : facts_.present) dom_ok = dom_ok && p;
    for (int v : facts_.visible) dom_ok = dom_ok && v == 2;
    for (const auto& j : facts_.js) dom_ok = dom_ok && j.empty();
    if (dom_ok || Steady::now() + kPoll >= deadline_) return finish();
    later([this] { check(); });
  }

  void on_deadline() {
    if (finished_) return;
    facts_.waited = since_nav();
    if (!navigated_ && facts_.document_status == 0) {
      if (nav_started_ == Steady::time_point{})
        return browser_failed(fmt::format("no answer from the browser within {} ms ({})", timeout_.count(), stage_));
      facts_.navigation_error = fmt::format("no response within {} ms", timeout_.count());
    }
    // Otherwise the page answered and is judged as it stands (a load that
    // never finished is a failed expectation; a step still waiting for its
    // element failed).
    if (step_ >= 0 && !facts_.step_failure && spec_->steps[static_cast<size_t>(step_)].kind != BrowserStep::Kind::Wait)
      step_failed(static_cast<size_t>(step_));
    finish();
  }

  void browser_failed(const std::string& why) {
    if (finished_) return;
    facts_.browser_error = why;
    finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    deadline_timer_.cancel();
    if (facts_.waited == Duration{0} && nav_started_ != Steady::time_point{}) facts_.waited = since_nav();
    Observation obs = evaluate_browser(probe_, *spec_, facts_, at_);
    if (obs.outcome == Outcome::Failed) obs.excerpt = secrets::excerpt_tail(log_, 600);
    if (obs.outcome == Outcome::Failed && !spec_->artifacts_dir.empty() && pipe_ && pipe_->open() && !session_.empty())
      return screenshot(std::move(obs));
    deliver(std::move(obs));
  }

  // The screenshot and the log, saved and referenced; a screenshot that
  // cannot be taken in time or is over the bound is said, not fatal: the run
  // stays failed for what it found.
  void screenshot(Observation obs) {
    auto o = std::make_shared<Observation>(std::move(obs));
    auto delivered = std::make_shared<bool>(false);
    timer_.expires_after(kScreenshotBound);
    timer_.async_wait([self = shared_from_this(), o, delivered](boost::system::error_code ec) {
      if (ec || *delivered) return;
      *delivered = true;
      o->detail += "; (no screenshot: the browser did not take it within 2 s)";
      self->save_log(*o);
      self->deliver(std::move(*o));
    });
    pipe_->call("Page.captureScreenshot", {{"format", "png"}}, session_,
                [self = shared_from_this(), o, delivered](Result<json::object> r) {
                  if (*delivered) return;
                  *delivered = true;
                  self->timer_.cancel();
                  if (!r) {
                    o->detail += "; (no screenshot: " + r.error().message + ")";
                  } else {
                    std::string png = base64_decode(str(*r, "data"));
                    if (png.size() > self->spec_->max_screenshot_bytes) {
                      o->detail += fmt::format("; (no screenshot: {} KiB is over the {} KiB bound)", png.size() / 1024,
                                               self->spec_->max_screenshot_bytes / 1024);
                    } else if (auto a = save_artifact(self->spec_->artifacts_dir, "screenshot", png, "png"); a) {
                      o->artifacts.push_back(std::move(*a));
                    } else {
                      o->detail += "; (no screenshot: " + a.error().message + ")";
                    }
                  }
                  self->save_log(*o);
                  self->deliver(std::move(*o));
                });
  }

  void save_log(Observation& o) {
    std::string text = fmt::format("probe {}\nurl {}\nresult {}\n{}\n-- console and network --\n{}", probe_,
                                   secrets::redact(spec_->url), to_string(o.outcome), o.detail, secrets::redact(log_));
    if (auto a = save_artifact(spec_->artifacts_dir, "log", text, "log"); a) o.artifacts.push_back(std::move(*a));
    prune_artifacts(spec_->artifacts_dir, PruneLimits{}, {});
  }

  void deliver(Observation obs) {
    // The result first; the context is disposed after, on the pipe this run
    // holds (a restart for the memory bound may close it meanwhile: the
    // context goes with that browser).
    auto done = std::move(done_);
    asio::post(browser_->loop(), [done = std::move(done), obs = std::move(obs)]() mutable { done(std::move(obs)); });
    dispose();
    if (acquired_) release();
  }

  void dispose() {
    if (subscribed_) {
      browser_->unsubscribe(session_);
      browser_->unsubscribe(target_);
      subscribed_ = false;
    }
    if (!acquired_) return;  // released when acquire answers (start())
    if (context_.empty() || !pipe_ || !pipe_->open()) return;
    // No bound of our own: the browser answers or its pipe closes.
    pipe_->call("Target.disposeBrowserContext", {{"browserContextId", context_}}, "",
                [self = shared_from_this()](Result<json::object>) {});
  }

  void release() {
    if (released_) return;
    released_ = true;
    browser_->release();
  }

  struct Request {
    std::string method, url, type;
  };
  std::shared_ptr<Browser> browser_;
  std::string probe_;
  std::shared_ptr<const BrowserProbeSpec> spec_;
  TimePoint at_;
  std::function<void(Observation)> done_;
  asio::steady_timer timer_, deadline_timer_;
  Steady::time_point started_, deadline_, nav_started_{};
  Duration timeout_{0};
  std::shared_ptr<cdp::CdpPipe> pipe_;
  std::string context_, target_, session_, loader_, stage_ = "starting the browser";
  std::unordered_map<std::string, Request> requests_;
  PageFacts facts_;
  std::string log_;
  size_t log_lines_ = 0;
  int step_ = -1;  ///< the step running, -1 none
  unsigned deadline_gen_ = 0;  ///< drops a deadline wait that was re-armed
  bool acquired_ = false, finished_ = false, navigated_ = false, loaded_ = false, after_load_started_ = false,
       subscribed_ = false, released_ = false;

};

}  // namespace

void start_page_run(std::shared_ptr<Browser> browser, std::string probe, std::shared_ptr<const BrowserProbeSpec> spec,
                    Duration timeout, TimePoint at, std::function<void(Observation)> done) {
  auto run = std::make_shared<PageRun>(std::move(browser), std::move(probe), std::move(spec), timeout, at, std::move(done));
  run->start();
}

}  // namespace dg
