// The browser probe's pure judgement (page facts → observation) and its
// evidence files (content-addressed names, pruning that keeps pinned and
// recent ones): tables, no browser.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/core/sha256.h"
#include "probes/browser/artifacts.h"
#include "probes/browser/page_facts.h"
#include "tests/support/temp_dir.h"

namespace dg {
namespace {

BrowserProbeSpec editor() {
  BrowserProbeSpec s;
  s.url = "http://127.0.0.1:8080/edit?tenant=acme";
  s.expect.selector_visible = {"#editor"};
  s.expect.js_true = {"window.editor && window.editor.initialized"};
  return s;
}

PageFacts loaded() {
  PageFacts f;
  f.document_status = 200;
  f.load_time = Duration{80};
  f.waited = Duration{5000};
  f.visible = {2};
  f.js = {""};
  return f;
}

TEST(BrowserEval, EveryExpectationMetPasses) {
  Observation o = evaluate_browser("editor", editor(), loaded(), {});
  EXPECT_EQ(o.outcome, Outcome::Passed) << o.detail;
  EXPECT_EQ(o.latency, Duration{80});
}

TEST(BrowserEval, EveryFailedExpectationIsListed) {
  PageFacts f = loaded();
  f.visible = {1};
  f.js = {"false"};
  f.exceptions = {"TypeError: Cannot read properties of undefined (reading 'map') at editor.js:42"};
  f.failed_requests = {{.url = "http://127.0.0.1:8080/static/editor-bootstrap.js", .type = "Script", .status = 404},
                       {.url = "https://cdn.example/x.css", .type = "Stylesheet", .error = "net::ERR_NAME_NOT_RESOLVED"}};
  Observation o = evaluate_browser("editor", editor(), f, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_EQ(o.detail,
            "selector #editor not visible after 5 s; `window.editor && window.editor.initialized` not true after 5 s; "
            "uncaught TypeError: Cannot read properties of undefined (reading 'map') at editor.js:42; "
            "GET /static/editor-bootstrap.js 404; GET https://cdn.example/x.css failed (net::ERR_NAME_NOT_RESOLVED)");
}

TEST(BrowserEval, ThreeWayRule) {
  PageFacts crashed = loaded();
  crashed.browser_error = "the page's renderer crashed";
  EXPECT_EQ(evaluate_browser("e", editor(), crashed, {}).outcome, Outcome::Error);
  PageFacts refused;
  refused.navigation_error = "net::ERR_CONNECTION_REFUSED";
  Observation o = evaluate_browser("e", editor(), refused, {});
  EXPECT_EQ(o.outcome, Outcome::Error);
  EXPECT_NE(o.detail.find("ERR_CONNECTION_REFUSED"), std::string::npos);
  PageFacts server_error = loaded();
  server_error.document_status = 503;
  EXPECT_EQ(evaluate_browser("e", editor(), server_error, {}).outcome, Outcome::Failed);
  PageFacts never_loaded = loaded();
  never_loaded.load_time.reset();
  o = evaluate_browser("e", editor(), never_loaded, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_NE(o.detail.find("page did not finish loading after 5 s"), std::string::npos) << o.detail;
}

TEST(BrowserEval, ConsoleErrorsMatchingThePatternAndLoadBound) {
  BrowserProbeSpec s = editor();
  s.expect.console_error_regex_text = "editor";
  s.expect.console_error_regex = *Regex::compile("editor");
  s.expect.max_load = Duration{50};
  PageFacts f = loaded();
  f.console_errors = {"editor failed to mount", "favicon missing"};
  Observation o = evaluate_browser("e", s, f, {});
  EXPECT_EQ(o.outcome, Outcome::Failed);
  EXPECT_EQ(o.detail, "page load took 80 ms (max_load 50 ms); console error: editor failed to mount");
}

TEST(BrowserEval, PngSizeFromIhdr) {
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x05\x00\0\0\x03\x20", 24);
  auto size = png_size(png);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->first, 1280);
  EXPECT_EQ(size->second, 800);
  EXPECT_FALSE(png_size("GIF89a............................"));
}

TEST(Artifacts, ContentAddressedAndPrunedOldestFirstExceptPinned) {
  test::TempDir dir;
  auto a = save_artifact(dir.path(), "screenshot", "picture one", "png");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->sha256, sha256_hex("picture one"));
  EXPECT_EQ(std::filesystem::path(a->path).filename(), a->sha256 + ".png");
  auto again = save_artifact(dir.path(), "screenshot", "picture one", "png");
  EXPECT_EQ(again->path, a->path);
  auto b = save_artifact(dir.path(), "screenshot", "picture two", "png");
  auto c = save_artifact(dir.path(), "screenshot", "picture three", "png");
  // Ages: a oldest, then b, then c.
  auto now = std::filesystem::file_time_type::clock::now();
  std::filesystem::last_write_time(a->path, now - std::chrono::hours(48));
  std::filesystem::last_write_time(b->path, now - std::chrono::hours(47));
  PruneLimits limits{.max_files = 1, .keep_recent = std::chrono::hours(24)};
  auto removed = prune_artifacts(dir.path(), limits, {a->sha256});
  ASSERT_EQ(removed.size(), 1u) << "a is pinned (an open incident), c is recent";
  EXPECT_EQ(removed[0], b->sha256 + ".png");
  EXPECT_TRUE(std::filesystem::exists(a->path));
  EXPECT_TRUE(std::filesystem::exists(c->path));
  std::string record = test::slurp(dir.file("pruned.jsonl"));
  EXPECT_NE(record.find("\"sha256\":\"" + b->sha256 + "\""), std::string::npos) << record;
  EXPECT_NE(record.find("\"pruned_at\":\""), std::string::npos) << record;
}

}  // namespace
}  // namespace dg
