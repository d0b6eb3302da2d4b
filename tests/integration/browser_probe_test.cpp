// The browser probe in real headless Chromium against the demo wiki: the
// fixed and the broken editor, a module that throws, a module that 404s, a
// slow page; the screenshot of a failed run on disk (a PNG of the viewport's
// size, named and referenced by its SHA-256); a fresh context per run; the
// warm browser restarted after it died or grew past its bound; run() and
// start() judging alike.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "agent/core/async_http.h"
#include "agent/core/async_io.h"
#include "agent/core/sha256.h"
#include "agent/engine/records.h"
#include "probes/browser/browser.h"
#include "probes/browser/browser_probe.h"
#include "probes/browser/page_facts.h"
#include "probes/browser/page_run.h"
#include "tests/integration/integration_helpers.h"
#include "tests/support/http_server.h"
#include "tests/support/wiki_server.h"

namespace dg::test {
namespace {

namespace asio = boost::asio;

BrowserProbeSpec editor_spec(const WikiServer& wiki, const std::string& tenant, const std::string& artifacts) {
  BrowserProbeSpec s;
  s.url = wiki.url("/edit?tenant=" + tenant);
  s.expect.selector_visible = {"#editor"};
  s.expect.js_true = {"window.editor && window.editor.initialized"};
  s.artifacts_dir = artifacts;
  return s;
}

Observation run_once(const BrowserProbeSpec& spec, Duration timeout = Duration{3000}) {
  SystemClock clock;
  auto probe = make_browser_probe("editor", timeout, spec);
  return probe->run(clock);
}

const Artifact* find(const Observation& o, const std::string& kind) {
  for (const auto& a : o.artifacts)
    if (a.kind == kind) return &a;
  return nullptr;
}

class BrowserProbeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(wiki_.ok()) << "the demo wiki did not start: " << wiki_.log(); }
  WikiServer wiki_;
  TempDir artifacts_;
};

TEST_F(BrowserProbeTest, FixedEditorPasses) {
  Observation o = run_once(editor_spec(wiki_, "acme", artifacts_.path()));
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_TRUE(o.artifacts.empty());
  EXPECT_GT(o.latency.count(), 0);
}

TEST_F(BrowserProbeTest, BrokenEditorFailsWithScreenshotReferencedByHash) {
  wiki_.set_release("2");  // drops the module for zero-plugin tenants
  Observation o = run_once(editor_spec(wiki_, "acme", artifacts_.path()), Duration{2000});
  ASSERT_EQ(o.outcome, Outcome::Failed) << o.detail;
  EXPECT_NE(o.detail.find("selector #editor not visible after"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("`window.editor && window.editor.initialized` not true"), std::string::npos) << o.detail;
  const Artifact* shot = find(o, "screenshot");
  ASSERT_NE(shot, nullptr) << o.detail;
  ASSERT_TRUE(std::filesystem::exists(shot->path));
  std::string png = slurp(shot->path);
  EXPECT_EQ(sha256_hex(png), shot->sha256);
  EXPECT_EQ(std::filesystem::path(shot->path).filename().string(), shot->sha256 + ".png");
  EXPECT_EQ(static_cast<long long>(png.size()), shot->bytes);
  auto size = png_size(png);
  ASSERT_TRUE(size.has_value()) << "not a PNG";
  EXPECT_EQ(size->first, 1280);
  EXPECT_EQ(size->second, 800);
  const Artifact* log = find(o, "log");
  ASSERT_NE(log, nullptr);
  EXPECT_NE(slurp(log->path).find("/edit?tenant=acme"), std::string::npos);
  // The journal's form of the observation carries path and hash.
  auto j = records::to_json(o);
  ASSERT_TRUE(j.contains("artifacts"));
  std::string text = boost::json::serialize(j);
  EXPECT_NE(text.find(shot->sha256), std::string::npos);
  EXPECT_NE(text.find(shot->path), std::string::npos);
  // Tenants with plugins still get the editor.
  EXPECT_EQ(run_once(editor_spec(wiki_, "globex", artifacts_.path())).outcome, Outcome::Passed);
}

TEST_F(BrowserProbeTest, ScriptThatThrowsIsAnUncaughtException) {
  ASSERT_TRUE(wiki_.set_fault("throw"));
  Observation o = run_once(editor_spec(wiki_, "acme", artifacts_.path()), Duration{2000});
  ASSERT_EQ(o.outcome, Outcome::Failed) << o.detail;
  EXPECT_NE(o.detail.find("uncaught TypeError"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("at editor-bootstrap.js:9"), std::string::npos) << o.detail;
}

TEST_F(BrowserProbeTest, ModuleThat404sIsAFailedRequestWhileTheHtmlStillLooksFine) {
  ASSERT_TRUE(wiki_.set_fault("missing-module"));
  Observation o = run_once(editor_spec(wiki_, "acme", artifacts_.path()), Duration{2000});
  ASSERT_EQ(o.outcome, Outcome::Failed) << o.detail;
  EXPECT_NE(o.detail.find("GET /static/editor-bootstrap.js 404"), std::string::npos) << o.detail;
  EXPECT_NE(find(o, "screenshot"), nullptr);
}

TEST_F(BrowserProbeTest, SlowPageFailsItsLoadBound) {
  ASSERT_TRUE(wiki_.set_fault("slow", 1200));
  BrowserProbeSpec s = editor_spec(wiki_, "acme", artifacts_.path());
  s.expect.max_load = Duration{500};
  Observation o = run_once(s, Duration{4000});
  ASSERT_EQ(o.outcome, Outcome::Failed) << o.detail;
  EXPECT_NE(o.detail.find("(max_load 500 ms)"), std::string::npos) << o.detail;
  EXPECT_EQ(o.detail.find("selector"), std::string::npos) << "the editor did load: " << o.detail;
}

TEST_F(BrowserProbeTest, NoAnswerIsAnErrorNotAFailure) {
  BrowserProbeSpec s = editor_spec(wiki_, "acme", artifacts_.path());
  s.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/edit";
  Observation o = run_once(s);
  EXPECT_EQ(o.outcome, Outcome::Error) << o.detail;
  EXPECT_NE(o.detail.find("ERR_CONNECTION_REFUSED"), std::string::npos) << o.detail;
  EXPECT_TRUE(o.artifacts.empty());
}

TEST_F(BrowserProbeTest, BrowserThatCannotStartIsAnError) {
  BrowserProbeSpec s = editor_spec(wiki_, "acme", artifacts_.path());
  s.browser.chromium = "/nonexistent/chromium";
  Observation o = run_once(s);
  EXPECT_EQ(o.outcome, Outcome::Error) << o.detail;
  EXPECT_NE(o.detail.find("cannot start"), std::string::npos) << o.detail;
}

TEST_F(BrowserProbeTest, StepsTypeAndSave) {
  BrowserProbeSpec s = editor_spec(wiki_, "acme", artifacts_.path());
  s.steps = {{.kind = BrowserStep::Kind::WaitFor, .selector = ".editor-surface"},
             {.kind = BrowserStep::Kind::Type, .selector = ".editor-surface", .text = "hello"},
             {.kind = BrowserStep::Kind::Click, .selector = "#save"}};
  s.expect.js_true.push_back("window.editor.saved === 'hello'");
  s.expect.selector_present = {"#editor[data-saved]"};
  Observation o = run_once(s);
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  s.steps.back().selector = "#no-such-button";
  o = run_once(s, Duration{2500});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("step 3 (click #no-such-button): no element matches"), std::string::npos) << o.detail;
}

// Headers and cookies from the spec reach the server; a cookie of one run
// is gone in the next (a fresh browser context each time).
TEST(BrowserProbeContext, HeadersAndCookiesArriveAndDoNotLeak) {
  std::mutex mu;
  std::vector<Request> seen;
  HttpServer server([&](const Request& r) {
    std::lock_guard lock(mu);
    seen.push_back(r);
    return Response{.status = 200, .body = "<html><body><p id=x>hi</p></body></html>",
                    .headers = {{"Content-Type", "text/html"}}};
  });
  BrowserProbeSpec s;
  s.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/page";
  s.headers = {{"X-Probe", "deployguard"}};
  s.cookies = {{"tenant", "acme"}};
  s.expect.js_true = {"document.cookie.includes('tenant=acme')"};
  s.expect.selector_visible = {"#x"};
  EXPECT_EQ(run_once(s).outcome, Outcome::Passed);
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen[0].header("x-probe"), "deployguard");
    EXPECT_NE(seen[0].header("cookie").find("tenant=acme"), std::string::npos);
  }
  s.headers.clear();
  s.cookies.clear();
  s.expect.js_true = {"!document.cookie.includes('tenant')"};
  EXPECT_EQ(run_once(s).outcome, Outcome::Passed);
}

// The warm browser on a loop: relaunched after it was killed, and after a
// run that left its tree above the bound; start() through the probe judges
// as run() does.
TEST_F(BrowserProbeTest, WarmBrowserIsRestartedWhenItDiesOrGrows) {
  asio::io_context loop;
  auto browser = std::make_shared<Browser>(loop, BrowserOptions{});
  auto spec = std::make_shared<const BrowserProbeSpec>(editor_spec(wiki_, "acme", artifacts_.path()));
  auto once = [&] {
    std::optional<Observation> got;
    loop.restart();  // it stops whenever it runs out of work (a browser that died)
    start_page_run(browser, "editor", spec, Duration{3000}, {}, [&](Observation o) { got = std::move(o); });
    while (!got && loop.run_one() > 0) {
    }
    for (int i = 0; i < 64 && loop.poll_one() > 0; ++i) {
    }
    if (got && got->outcome != Outcome::Passed) std::cerr << "run: " << got->detail << "\n";
    return got.value_or(Observation{});
  };
  EXPECT_EQ(once().outcome, Outcome::Passed);
  EXPECT_EQ(once().outcome, Outcome::Passed);
  EXPECT_EQ(browser->launches(), 1) << "kept warm";
  int pgid = browser->pgid();
  ASSERT_GT(pgid, 0);
  EXPECT_GT(browser->tree_memory_bytes(), 10ll << 20);
  EXPECT_GT(process_group_rss(pgid), browser->tree_memory_bytes());
  ::kill(-pgid, SIGKILL);
  Observation after_kill = once();
  // The run that finds it dead either hears it first (error) or after a relaunch passes.
  if (after_kill.outcome != Outcome::Passed) {
    EXPECT_EQ(after_kill.outcome, Outcome::Error) << after_kill.detail;
  }
  EXPECT_EQ(once().outcome, Outcome::Passed);
  EXPECT_EQ(browser->launches(), 2);

  auto small = std::make_shared<Browser>(loop, BrowserOptions{.max_memory_bytes = 1});
  browser = small;
  EXPECT_EQ(once().outcome, Outcome::Passed);
  EXPECT_EQ(once().outcome, Outcome::Passed);
  EXPECT_EQ(small->launches(), 2) << "above the bound after the first run: a new browser for the second";
}

TEST_F(BrowserProbeTest, StartOnTheLoopJudgesAsRunDoes) {
  wiki_.set_release("2");
  asio::io_context loop;
  AsyncHttp http(loop);
  AsyncIo io{loop, http};
  SystemClock clock;
  auto probe = make_browser_probe("editor", Duration{2000}, editor_spec(wiki_, "acme", artifacts_.path()));
  std::optional<Observation> got;
  probe->start(io, clock, [&](Observation o) { got = std::move(o); });
  while (!got && loop.run_one() > 0) {
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(got->outcome, Outcome::Failed) << got->detail;
  Observation blocking = run_once(editor_spec(wiki_, "acme", artifacts_.path()), Duration{2000});
  EXPECT_EQ(blocking.outcome, got->outcome);
  ASSERT_NE(find(*got, "screenshot"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(find(*got, "screenshot")->path));
}

}  // namespace
}  // namespace dg::test
