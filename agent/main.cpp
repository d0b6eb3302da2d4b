// deployguard: command-line entry point. Parses arguments and wires the
// modules together; all behaviour lives in the libraries.
#include <fmt/format.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>

#include "agent/config/config.h"
#include "agent/core/duration.h"
#include "agent/core/fs.h"
#include "agent/core/json_text.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"
#include "agent/incidents/notifier.h"
#include "agent/journal/journal.h"
#include "agent/review/kpi.h"
#include "agent/review/review.h"
#include "agent/runtime.h"
#include "agent/verify/reconcile.h"
#include "agent/verify/report.h"
#include "agent/verify/verify.h"
#include "agent/core/http_client.h"
#include "agent/watch/log.h"
#include "agent/watch/systemd.h"
#include "agent/watch/watcher.h"
#include "logs/cli.h"
#include "probes/metrics/exposition.h"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true); }

class ConsoleProgress final : public dg::Progress {
 public:
  explicit ConsoleProgress(bool tty) : tty_(tty) {}
  ~ConsoleProgress() override { clear(); }
  void event(const std::string& line) override {
    clear();
    std::fprintf(stderr, "%s\n", dg::secrets::redact(line).c_str());
  }
  void status(const std::string& line) override {
    if (!tty_) return;  // quiet lines only when not on a terminal
    std::fprintf(stderr, "\r\033[K%s", dg::secrets::redact(line).c_str());
    std::fflush(stderr);
    shown_ = true;
  }

 private:
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  bool tty_;
  bool shown_ = false;
};

int print_diagnostics(const dg::LoadResult& r) {
  // Only file:line:column lines, so tools can read them all the same way.
  for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";
  return dg::kUsage;
}

// `logs mine --config --source` and `logs top`: a log source's settings from the config.
int with_log_source(const std::string& config_path, const std::string& name, const std::function<int(const dg::logs::LogSourceSpec&)>& f) {
  auto loaded = dg::load_config(config_path);
  if (!loaded.config) return print_diagnostics(loaded);
  for (const auto& s : loaded.config->log_sources)
    if (s.name == name) return f(s);
  std::cerr << config_path << ": no log source '" << name << "'\n";
  return dg::kUsage;
}

int cmd_check(const std::string& config_path) {
  auto loaded = dg::load_config(config_path);
  if (!loaded.config) return print_diagnostics(loaded);
  if (auto rt = dg::build_runtime(*loaded.config); !rt) {
    std::cerr << config_path << ": " << dg::secrets::redact(rt.error().message) << "\n";
    return dg::kUsage;
  }
  std::cout << "OK\n";
  return 0;
}

std::string run_id() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

int cmd_verify(const std::string& config_path, const std::string& release, const std::string& bake_text,
               bool dry_run_flag, const std::string& json_path, const std::string& junit_path) {
  auto loaded = dg::load_config(config_path);
  if (!loaded.config) return print_diagnostics(loaded);
  const dg::Config& cfg = *loaded.config;
  dg::VerifyOptions opt;
  opt.release = release;
  opt.bake = cfg.agent.bake;
  opt.dry_run = dry_run_flag || cfg.agent.dry_run;
  opt.stop = &g_stop;
  opt.journal_finished = false;  // below, once reconciliation has had its say
  if (!bake_text.empty()) {
    auto d = dg::parse_duration(bake_text);
    if (!d || d->count() <= 0) {
      std::cerr << "--bake: " << (d ? "must be positive" : d.error().message) << "\n";
      return dg::kUsage;
    }
    opt.bake = *d;
  }
  auto rt = dg::build_runtime(cfg);
  if (!rt) {
    std::cerr << config_path << ": " << dg::secrets::redact(rt.error().message) << "\n";
    return dg::kUsage;
  }
  if (auto problems = dg::preflight(cfg, *rt, opt.bake); !problems.empty()) {
    for (const auto& p : problems) std::cerr << config_path << ": " << dg::secrets::redact(p) << "\n";
    return dg::kUsage;
  }
  dg::SystemClock clock;
  dg::JournalOptions journal_options;
  if (cfg.agent.journal_segment_size) journal_options.max_segment_bytes = *cfg.agent.journal_segment_size;
  auto journal = dg::Journal::open(cfg.agent.journal, clock, nullptr, journal_options);
  if (!journal) {
    std::cerr << "deployguard: " << journal.error().message << "\n";
    return dg::kUsage;
  }
  std::string run = run_id();
  (*journal)->set_context({cfg.agent.service, cfg.agent.environment, release, run});
  boost::json::array files;
  for (const auto& f : cfg.files) files.emplace_back(f);
  if (auto r = (*journal)->append("config_loaded", {{"data", {{"files", files}, {"digest", cfg.digest},
                                                              {"dry_run", opt.dry_run}}}});
      !r) {
    std::cerr << "deployguard: " << r.error().message << "\n";
    return dg::kUsage;
  }

  ConsoleProgress progress(::isatty(STDERR_FILENO) == 1);
  if (const auto& torn = (*journal)->dropped_tail())
    progress.event(fmt::format("WARNING: the journal ended in a torn record ({} byte(s) after seq {}, sha256 {}); "
                               "it was dropped and the drop journaled",
                               torn->bytes, torn->after_seq, torn->sha256));
  dg::VerifyReport report;
  {
    dg::NotifierOptions notifier_options;
    notifier_options.log = [&progress](const std::string& line) { progress.event(line); };
    dg::IncidentNotifier notifier(rt->sink_pointers(), **journal, notifier_options);
    // Deliveries a dead run journaled but never made go out first (notifier.h).
    dg::resume_deliveries(notifier, (*journal)->path(), run, opt.dry_run);
    // Earlier runs that died are reconciled once, before this run judges its
    // own release (see agent/verify/reconcile.h).
    auto rec = dg::reconcile_interrupted_runs(cfg, *rt, **journal, notifier, clock, release, run, opt.dry_run, progress);
    opt.continue_incidents = dg::continued_incidents(rec);
    report = dg::run_verify(cfg, *rt, **journal, notifier, clock, opt, progress);
    dg::finish_reconciliation(rec, cfg, report, **journal, notifier, clock, opt.dry_run);
    if (!notifier.flush(std::chrono::seconds(30)))
      progress.event("some incident notifications were still pending after 30s; see the journal");
    report.incident_delivery = notifier.delivery_report();
  }
  if (const auto& torn = (*journal)->dropped_tail())
    report.warnings.push_back(fmt::format("the journal ended in a torn record ({} byte(s) after seq {}, sha256 {}); it "
                                          "was dropped and the drop journaled (torn_record_dropped)",
                                          torn->bytes, torn->after_seq, torn->sha256));
  // After every delivery record and with the final exit code and states.
  if (!dg::finish_verify(**journal, report)) {
    progress.event("JOURNAL WRITE FAILED: verify_finished");
    report.warnings.push_back("the journal write of verify_finished failed");
    if (report.exit_code == dg::kHealthy) report.exit_code = dg::kInconclusive;
  }
  report.journal_head = (*journal)->head().str();
  std::cout << dg::summary_text(report) << std::flush;
  int rc = report.exit_code;
  auto write = [&](const std::string& path, const std::string& content) {
    if (path.empty()) return;
    if (auto w = dg::fs::write_file_atomic(path, content); !w) {
      std::cerr << "deployguard: " << w.error().message << "\n";
      if (rc == dg::kHealthy) rc = dg::kInconclusive;
    }
  };
  write(json_path, dg::report_json(report));
  write(junit_path, dg::report_junit(report));
  return rc;
}

// The file's bytes for exposition check: mapped when it is a regular file (no
// copy through a stream buffer), else read once into a presized buffer.
class InputFile {
 public:
  std::string error;
  explicit InputFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
      return;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        map_ = static_cast<const char*>(p);
        ::madvise(p, size_, MADV_SEQUENTIAL);
        ::close(fd);
        return;
      }
      buf_.reserve(size_);
    }
    char chunk[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
        break;
      }
      if (n == 0) break;
      buf_.append(chunk, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  ~InputFile() {
    if (map_) ::munmap(const_cast<char*>(map_), size_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::string_view text() const { return map_ ? std::string_view(map_, size_) : std::string_view(buf_); }

 private:
  const char* map_ = nullptr;
  size_t size_ = 0;
  std::string buf_;
};

// The flag that raises each parser limit, for the error's hint.
const char* flag_for(std::string_view limit) {
  if (limit == "max_labels_per_sample") return "--max-labels";
  if (limit == "max_label_name_length") return "--max-label-name-length";
  if (limit == "max_label_value_length") return "--max-label-value-length";
  if (limit == "max_series") return "--max-series";
  if (limit == "max_line_length") return "--max-line-length";
  return nullptr;
}

int cmd_exposition_check(const std::string& path, const std::string& format, const dg::ExpositionLimits& limits) {
  InputFile in(path);
  if (!in.error.empty()) {
    std::cerr << in.error << "\n";
    return dg::kUsage;
  }
  struct Count final : dg::ExpositionVisitor {
    void on_sample(const dg::SampleView&) override {}
  } visitor;
  auto fmt_kind = format == "openmetrics" ? dg::ExpositionFormat::OpenMetrics : dg::ExpositionFormat::Text004;
  // Not destroyed: the process ends right after, and freeing the ~14k names a
  // 10 MiB file teaches the parser cost ~2.5 ms (docs/benchmarks.md, "Whole
  // process"). Kept reachable from a static, so leak checkers stay quiet.
  static dg::ExpositionParser* kept = nullptr;
  kept = new dg::ExpositionParser(limits);
  auto r = kept->parse(in.text(), fmt_kind, visitor);
  if (!r) {
    std::string hint;
    if (const char* flag = flag_for(r.error().limit)) hint = fmt::format(" (raise it with {} N)", flag);
    std::cout << path << ":" << r.error().str() << hint << "\n";
    return 1;
  }
  std::cout << fmt::format("OK: {} sample(s) in {} famil{}\n", r->samples, r->families, r->families == 1 ? "y" : "ies");
  return 0;
}

int cmd_journal_verify(std::string path, const std::string& config_path, const std::string& head_text) {
  if (path.empty()) {
    if (config_path.empty()) {
      std::cerr << "journal verify: give a journal path or --config FILE\n";
      return dg::kUsage;
    }
    auto loaded = dg::load_config(config_path);
    if (!loaded.config) return print_diagnostics(loaded);
    path = loaded.config->agent.journal;
  }
  std::optional<dg::JournalHead> expected;
  if (!head_text.empty()) {
    auto h = dg::parse_journal_head(head_text);
    if (!h) {
      std::cerr << "journal verify: --head: " << h.error().message << "\n";
      return dg::kUsage;
    }
    expected = *h;
  }
  auto check = dg::verify_journal(path, expected);
  if (check.read_error) {
    std::cerr << "journal verify: " << check.message << "\n";
    return dg::kUsage;
  }
  if (!check.ok) {
    std::cout << "BROKEN: " << check.message << " (" << check.records << " record(s) before it verify)\n";
    if (check.head_ok == false) std::cout << "HEAD: " << check.head_message << "\n";
    return 1;
  }
  int rc = 0;
  if (check.torn) {
    // The same handling as the next run's: reported, dropped, and the drop
    // journaled (through Journal::open, which takes the journal's lock).
    std::cout << fmt::format("TORN: {}: the final line has no newline ({} byte(s) after seq {}, sha256 {})\n", path,
                             check.torn->bytes, check.torn->after_seq, check.torn->sha256);
    dg::SystemClock clock;
    auto j = dg::Journal::open(path, clock);
    if (!j) {
      std::cout << "NOT DROPPED: " << j.error().message << "\n";
      return 1;
    }
    std::cout << fmt::format("DROPPED: journaled as torn_record_dropped, seq {}\n", (*j)->head().seq);
    j->reset();
    check = dg::verify_journal(path, expected);
    if (!check.ok) rc = 1;
  }
  std::cout << (check.ok ? "OK: " : "BROKEN: ") << check.message << "\n";
  if (check.head_ok) {
    std::cout << (*check.head_ok ? "HEAD OK: " : "HEAD: ") << check.head_message << "\n";
    if (!*check.head_ok) rc = 1;
  }
  return rc;
}


// Writes text to `out` (atomically) or stdout.
int write_out(const std::string& out, const std::string& text, const char* what) {
  if (out.empty() || out == "-") {
    std::cout << text;
    return 0;
  }
  if (auto r = dg::fs::write_file_atomic(out, text); !r) {
    std::cerr << what << ": " << r.error().message << "\n";
    return 1;
  }
  return 0;
}

std::optional<dg::TimePoint> since_option(const std::string& since, const char* what, bool& bad) {
  if (since.empty()) return std::nullopt;
  auto t = dg::review::parse_since(since, std::chrono::system_clock::now());
  if (!t) {
    std::cerr << what << ": --since: expected an RFC 3339 time (2026-11-01T00:00:00Z), a date (2026-11-01) or an age (36h, 7d)\n";
    bad = true;
  }
  return t;
}

bool journal_readable(const std::string& path, const char* what) {
  if (dg::journal_files(path).empty()) {
    std::cerr << what << ": no journal at " << path << "\n";
    return false;
  }
  return true;
}

// The review draft of one incident (or of every incident since T), from the journal alone.
int cmd_review(const std::string& journal, const std::string& incident, const std::string& since,
               const std::string& format, const std::string& out) {
  bool bad = false;
  auto since_t = since_option(since, "review", bad);
  if (bad) return dg::kUsage;
  if (!journal_readable(journal, "review")) return dg::kUsage;
  auto check = dg::verify_journal(journal);
  dg::review::Model m = dg::review::build_from_journal(journal);
  m.chain = check.ok ? fmt::format("verified, {} record(s)", check.records)
                     : fmt::format("BROKEN: {} ({} record(s) before it verify)", check.message, check.records);
  m = dg::review::select(std::move(m), {.incident = incident, .since = since_t});
  if (!incident.empty() && m.incidents.empty()) {
    std::cerr << "review: no incident " << incident << " in " << journal << "\n";
    return 1;
  }
  int rc = write_out(out, format == "html" ? dg::review::render_html(m) : dg::review::render_markdown(m), "review");
  if (rc == 0 && !check.ok) std::cerr << "review: WARNING: the journal's chain is broken: " << check.message << "\n";
  return rc;
}

int cmd_kpi(const std::vector<std::string>& journals, const std::string& since, const std::string& format,
            const std::string& out) {
  bool bad = false;
  auto since_t = since_option(since, "kpi", bad);
  if (bad) return dg::kUsage;
  std::vector<dg::review::Model> models;
  for (const auto& j : journals) {
    if (!journal_readable(j, "kpi")) return dg::kUsage;
    models.push_back(dg::review::build_from_journal(j));
  }
  auto report = dg::kpi::compute(models, since_t);
  return write_out(out, format == "json" ? dg::pretty_json(dg::kpi::to_json(report)) + "\n" : dg::kpi::render_table(report),
                   "kpi");
}

int cmd_watch(const std::string& config_path, bool dry_run, const std::string& log_format, const std::string& log_level) {
  auto format = dg::parse_log_format(log_format);
  auto level = dg::parse_log_level(log_level);
  if (!format || !level) {
    std::cerr << "watch: --log-format is human, json or auto; --log-level is debug, info, warn or error\n";
    return dg::kUsage;
  }
  dg::Log log(*format, *level);
  auto sd = dg::systemd_notify();
  if (!sd.problem.empty()) log.log(dg::LogLevel::Warn, "systemd notifications are off: " + sd.problem);
  dg::WatchOptions opt{.config_path = config_path, .run_id = run_id(), .dry_run = dry_run, .notify = sd.notify,
                       .watchdog_interval = sd.watchdog_interval};
  return dg::run_watch(opt, log);
}

// A request to the running watcher named by the config (its listener), with
// the token the config references: the shell's way to the same API.
int cmd_client(const std::string& config_path, const std::string& method, const std::string& path,
               const boost::json::object& body, bool human_status) {
  auto loaded = dg::load_config(config_path);
  if (!loaded.config) return print_diagnostics(loaded);
  const dg::WatchSpec& w = loaded.config->watch;
  std::string host = w.address;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  dg::HttpRequest req;
  req.method = method;
  req.url = fmt::format("{}://{}:{}{}", w.tls_cert.empty() ? "http" : "https", host, w.port, path);
  std::string token = method == "GET" && !w.read_token.empty() ? w.read_token : w.alarm_token;
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  if (method == "POST") {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = boost::json::serialize(body);
  }
  req.timeout = std::chrono::seconds(10);
  req.verify_tls = false;  // our own listener, on the address the config names; its certificate may be self-signed
  auto r = dg::http_perform(req);
  if (!r) {
    std::cerr << "deployguard: the watcher at " << dg::secrets::redact(req.url) << " did not answer: "
              << dg::secrets::redact(r.error().message) << "\n";
    return 1;
  }
  if (r->status >= 300) {
    std::cerr << "deployguard: " << r->status << ": " << dg::secrets::redact(r->body);
    return r->status == 401 ? dg::kUsage : 1;
  }
  if (!human_status) {
    std::cout << r->body;
    return 0;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(r->body, ec);
  if (ec || !v.is_object()) {
    std::cout << r->body;
    return 0;
  }
  const auto& o = v.as_object();
  auto s = [](const boost::json::value* x) { return x && x->is_string() ? std::string(x->as_string()) : std::string(); };
  std::cout << fmt::format("{} ({}) — journal head {}\n", s(o.if_contains("service")), s(o.if_contains("environment")),
                           s(o.if_contains("journal_head")));
  if (const auto* svc = o.if_contains("services"); svc && svc->is_array())
    for (const auto& x : svc->as_array())
      std::cout << fmt::format("  service {}: release {}\n", s(x.as_object().if_contains("name")),
                               s(x.as_object().if_contains("release")));
  if (const auto* pol = o.if_contains("policies"); pol && pol->is_array())
    for (const auto& x : pol->as_array()) {
      const auto& p = x.as_object();
      std::string inc = s(p.if_contains("incident"));
      std::cout << fmt::format("  policy {:<24} {:<11} release {}{}\n", s(p.if_contains("name")), s(p.if_contains("state")),
                               s(p.if_contains("release")), inc.empty() ? "" : "  incident " + inc);
    }
  if (const auto* inc = o.if_contains("incidents"); inc && inc->is_array() && !inc->as_array().empty()) {
    std::cout << "open incidents:\n";
    for (const auto& x : inc->as_array())
      std::cout << fmt::format("  {} {} {}\n", s(x.as_object().if_contains("key")), s(x.as_object().if_contains("state")),
                               s(x.as_object().if_contains("scope")));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deployguard: guards a release with synthetic probes and policies, and mitigates by itself"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "deployguard 0.1.0");

  std::string config_path, release, bake, json_path, junit_path, journal_path;
  bool dry_run = false;

  auto* check = app.add_subcommand("check", "validate a config file; prints OK or every problem");
  check->add_option("--config,-c", config_path, "config file")->required();

  auto* verify = app.add_subcommand("verify", "bake a release: probe, judge, mitigate, journal");
  verify->add_option("--config,-c", config_path, "config file")->required();
  verify->add_option("--release,-r", release, "the release being verified")->required();
  verify->add_option("--bake", bake, "bake time, e.g. 2m (default: agent.bake)");
  verify->add_flag("--dry-run", dry_run, "record what would be done without doing it");
  verify->add_option("--json", json_path, "write a JSON report here");
  verify->add_option("--junit", junit_path, "write a JUnit XML report here");

  auto* journal = app.add_subcommand("journal", "journal tools");
  journal->require_subcommand(1);
  auto* jverify = journal->add_subcommand("verify", "check the hash chain; report the first broken record");
  jverify->add_option("path", journal_path, "journal file (default: the one in --config)");
  jverify->add_option("--config,-c", config_path, "config file naming the journal");
  std::string head_text;
  jverify->add_option("--head", head_text, "SEQ:HASH from a report or incident: fail unless the journal holds that record");

  auto* expo = app.add_subcommand("exposition", "Prometheus exposition tools");
  expo->require_subcommand(1);
  auto* echeck = expo->add_subcommand("check", "parse a /metrics exposition strictly; report the first error as line:column");
  std::string expo_path, expo_format = "text";
  echeck->add_option("file", expo_path, "exposition file")->required();
  echeck->add_option("--format", expo_format, "text (0.0.4) or openmetrics")->check(CLI::IsMember({"text", "openmetrics"}));
  dg::ExpositionLimits expo_limits;  // the defaults a scrape source uses
  echeck->add_option("--max-labels", expo_limits.max_labels_per_sample, "labels per sample")->check(CLI::PositiveNumber);
  echeck->add_option("--max-label-name-length", expo_limits.max_label_name_length, "bytes")->check(CLI::PositiveNumber);
  echeck->add_option("--max-label-value-length", expo_limits.max_label_value_length, "bytes")->check(CLI::PositiveNumber);
  echeck->add_option("--max-series", expo_limits.max_series, "samples in the exposition")->check(CLI::PositiveNumber);
  echeck->add_option("--max-line-length", expo_limits.max_line_length, "bytes")->check(CLI::PositiveNumber);

  auto* watch = app.add_subcommand("watch", "watch continuously: probe, judge, mitigate, serve /metrics and the API");
  watch->add_option("--config,-c", config_path, "config file")->required();
  watch->add_flag("--dry-run", dry_run, "record what would be done without doing it");
  std::string log_format = "auto", log_level = "info";
  watch->add_option("--log-format", log_format, "human, json, or auto (human on a terminal, else JSON lines)");
  watch->add_option("--log-level", log_level, "debug, info, warn or error");

  std::string reason, scope, service, policy, who;
  auto* alarm = app.add_subcommand("alarm", "raise the alarm on the running watcher (opens an incident)");
  alarm->add_option("--config,-c", config_path, "config file")->required();
  alarm->add_option("--reason", reason, "what is wrong, in words")->required();
  alarm->add_option("--scope", scope, "who is affected, e.g. \"segment: pluginCount == 0\"");
  alarm->add_option("--service", service, "the service (default: the agent's)");
  alarm->add_option("--policy", policy, "a policy whose ladder to start");
  alarm->add_option("--who", who, "your name, for the journal");
  auto* status = app.add_subcommand("status", "the running watcher's policies, releases and open incidents");
  status->add_option("--config,-c", config_path, "config file")->required();
  bool status_json = false;
  status->add_flag("--json", status_json, "print the API's JSON");
  auto* announce = app.add_subcommand("release", "announce a release to the running watcher (CI, after a deploy)");
  announce->add_option("--config,-c", config_path, "config file")->required();
  announce->add_option("--release,-r", release, "the release id")->required();
  announce->add_option("--service", service, "the service (default: the agent's)");
  std::vector<std::string> fixes, policies;
  announce->add_option("--fixes", fixes, "policies whose trip this release fixes (their mitigation is lifted)");
  announce->add_option("--policies", policies, "the policies this release concerns (default: every policy of the service)");
  auto* lift = app.add_subcommand("release-mitigation", "lift a policy's mitigation on the running watcher (the fix shipped)");
  lift->add_option("--config,-c", config_path, "config file")->required();
  lift->add_option("--policy", policy, "the mitigated policy")->required();
  auto* pause = app.add_subcommand("pause", "pause a policy on the running watcher (not judged, nothing acted on)");
  pause->add_option("--config,-c", config_path, "config file")->required();
  pause->add_option("--policy", policy, "the policy")->required();
  pause->add_option("--reason", reason, "why");
  auto* resume = app.add_subcommand("resume", "resume a paused policy on the running watcher");
  resume->add_option("--config,-c", config_path, "config file")->required();
  resume->add_option("--policy", policy, "the policy")->required();
  auto* approve = app.add_subcommand("approve", "approve a rollback waiting in its veto window (it runs now)");
  approve->add_option("--config,-c", config_path, "config file")->required();
  approve->add_option("--policy", policy, "the policy whose rollback waits")->required();
  approve->add_option("--reason", reason, "why");
  auto* veto = app.add_subcommand("veto", "veto a rollback waiting in its veto window (it is skipped; the ladder escalates)");
  veto->add_option("--config,-c", config_path, "config file")->required();
  veto->add_option("--policy", policy, "the policy whose rollback waits")->required();
  veto->add_option("--reason", reason, "why");

  std::string review_journal, review_incident, review_since, review_format = "md", review_out;
  auto* review = app.add_subcommand("review", "write a post-incident review draft from the journal alone");
  review->add_option("--journal,-j", review_journal, "journal file")->required();
  auto* review_key = review->add_option("--incident", review_incident, "the incident key (default: every incident)");
  review->add_option("--since", review_since, "incidents detected since: RFC 3339, a date, or an age (7d, 36h)")->excludes(review_key);
  review->add_option("--format", review_format, "md or html")->check(CLI::IsMember({"md", "html"}));
  review->add_option("--out,-o", review_out, "write here (default: stdout)");
  std::vector<std::string> kpi_journals;
  std::string kpi_since, kpi_format = "table", kpi_out;
  auto* kpi = app.add_subcommand("kpi", "time to detect and to mitigate per incident, medians, p90, bests and worsts, monthly trend");
  kpi->add_option("--journal,-j", kpi_journals, "journal files (one or more)")->required();
  kpi->add_option("--since", kpi_since, "incidents detected since: RFC 3339, a date, or an age (7d, 36h)");
  kpi->add_option("--format", kpi_format, "table or json")->check(CLI::IsMember({"table", "json"}));
  kpi->add_option("--out,-o", kpi_out, "write here (default: stdout)");

  auto* logs = app.add_subcommand("logs", "log signatures: mine lines into templates, show the frequency dashboard");
  logs->require_subcommand(1);
  auto* lmine = logs->add_subcommand("mine", "print each line's signature id and template (TSV, or JSON lines)");
  dg::logs::MineArgs mine_args;
  std::string mine_header;
  lmine->add_option("files", mine_args.files, "log files (- or none: stdin)");
  lmine->add_option("--header", mine_header, "a header format (auto, none, syslog, iso8601-level, logfmt, json) or a regex with (?<message>...)");
  lmine->add_flag("--json", mine_args.json, "JSON lines instead of TSV");
  lmine->add_option("--similarity", mine_args.miner.similarity, "share of positions that agree to join a signature")->check(CLI::Range(0.0, 1.0));
  lmine->add_option("--depth", mine_args.miner.depth, "tree depth")->check(CLI::Range(3, 16));
  lmine->add_option("--max-signatures", mine_args.miner.max_signatures, "signature cap (least recently used evicted)")->check(CLI::PositiveNumber);
  std::string log_source, since_text = "10m";
  lmine->add_option("--config,-c", config_path, "take the header and miner settings of --source from this config");
  lmine->add_option("--source", log_source, "a [log_sources.NAME] of --config");
  auto* ltop = logs->add_subcommand("top", "the source's signatures by count, with their change against the window before");
  dg::logs::TopArgs top_args;
  ltop->add_option("--config,-c", config_path, "config file")->required();
  ltop->add_option("--source", log_source, "a [log_sources.NAME] of the config")->required();
  ltop->add_option("--since", since_text, "the recent window, e.g. 10m (the baseline is the one before it)");
  ltop->add_option("--limit", top_args.limit, "rows")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : dg::kUsage;
  }

  signal(SIGPIPE, SIG_IGN);
  if (*watch) return cmd_watch(config_path, dry_run, log_format, log_level);  // its loop handles the signals
  auto who_field = [&](boost::json::object o) {
    if (!who.empty()) o["who"] = who;
    return o;
  };
  if (*alarm) {
    boost::json::object b{{"reason", reason}};
    if (!scope.empty()) b["scope"] = scope;
    if (!service.empty()) b["service"] = service;
    if (!policy.empty()) b["policy"] = policy;
    return cmd_client(config_path, "POST", "/api/v1/alarm", who_field(b), false);
  }
  if (*status) return cmd_client(config_path, "GET", "/api/v1/status", {}, !status_json);
  if (*announce) {
    boost::json::object b{{"release", release}};
    if (!service.empty()) b["service"] = service;
    if (!fixes.empty()) b["fixes"] = boost::json::array(fixes.begin(), fixes.end());
    if (!policies.empty()) b["policies"] = boost::json::array(policies.begin(), policies.end());
    return cmd_client(config_path, "POST", "/api/v1/releases", who_field(b), false);
  }
  if (*lift) return cmd_client(config_path, "POST", "/api/v1/policies/" + policy + "/release-mitigation", who_field({}), false);
  if (*pause) return cmd_client(config_path, "POST", "/api/v1/policies/" + policy + "/pause", who_field({{"reason", reason}}), false);
  if (*approve)
    return cmd_client(config_path, "POST", "/api/v1/policies/" + policy + "/approve", who_field({{"reason", reason}}), false);
  if (*veto)
    return cmd_client(config_path, "POST", "/api/v1/policies/" + policy + "/veto", who_field({{"reason", reason}}), false);
  if (*resume) return cmd_client(config_path, "POST", "/api/v1/policies/" + policy + "/resume", who_field({}), false);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (*lmine) {
    if (!log_source.empty() || !config_path.empty()) {
      if (log_source.empty() || config_path.empty()) {
        std::cerr << "deployguard logs mine: --config and --source go together\n";
        return dg::kUsage;
      }
      return with_log_source(config_path, log_source, [&](const dg::logs::LogSourceSpec& s) {
        mine_args.header = s.header;
        mine_args.miner = s.miner;
        if (!mine_header.empty()) mine_args.header = dg::logs::header_from_flag(mine_header);
        return dg::logs::run_logs_mine(mine_args, std::cout, std::cerr);
      });
    }
    if (!mine_header.empty()) mine_args.header = dg::logs::header_from_flag(mine_header);
    return dg::logs::run_logs_mine(mine_args, std::cout, std::cerr);
  }
  if (*ltop) {
    auto since = dg::parse_duration(since_text);
    if (!since || since->count() <= 0) {
      std::cerr << "deployguard logs top: --since: expected a duration such as 10m\n";
      return dg::kUsage;
    }
    top_args.since = *since;
    return with_log_source(config_path, log_source, [&](const dg::logs::LogSourceSpec& s) {
      top_args.source = s;
      dg::SystemClock clock;
      return dg::logs::run_logs_top(top_args, clock, std::cout, std::cerr);
    });
  }
  if (*check) return cmd_check(config_path);
  if (*verify) return cmd_verify(config_path, release, bake, dry_run, json_path, junit_path);
  if (*jverify) return cmd_journal_verify(journal_path, config_path, head_text);
  if (*echeck) return cmd_exposition_check(expo_path, expo_format, expo_limits);
  if (*review) return cmd_review(review_journal, review_incident, review_since, review_format, review_out);
  if (*kpi) return cmd_kpi(kpi_journals, kpi_since, kpi_format, kpi_out);
  return dg::kUsage;
}
