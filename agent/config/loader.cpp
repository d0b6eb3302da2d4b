// Config loader: the only place that sees TOML. It decodes every section into
// typed specs, collects every problem with file:line:column and key path, and
// suggests the closest known key or name for typos.
#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <array>
#include <charconv>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "agent/config/config.h"
#include "agent/config/reader.h"
#include "agent/core/duration.h"
#include "agent/core/fs.h"
#include "agent/core/secrets.h"
#include "agent/core/sha256.h"
#include "agent/core/text.h"
#include "agent/incidents/sinks/file_sink.h"
#include "flags/segment.h"
#include "logs/config.h"
#include "probes/probe.h"

namespace dg {

const PolicySpec* Config::policy(const std::string& name) const {
  for (const auto& p : policies)
    if (p.name == name) return &p;
  return nullptr;
}

const ServiceSpec* Config::service(const std::string& name) const {
  for (const auto& s : services)
    if (s.name == name) return &s;
  return nullptr;
}

const ProbeSpec* Config::probe(const std::string& name) const {
  for (const auto& p : probes)
    if (p.name == name) return &p;
  return nullptr;
}

std::string Diagnostic::str() const {
  return fmt::format("{}:{}:{}: {}{}{}", file, line, column, path, path.empty() ? "" : ": ", message);
}

namespace {

// A config path must name a readable regular file, and a message must say
// exactly what it is otherwise. Checked before opening: opening a FIFO would
// block until a writer comes, possibly forever.
Result<std::string> read_config_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  auto not_regular = [&](std::string_view what, std::string_view more = "") {
    return fail(fmt::format("{} is {}, not a config file{}", path, what, more));
  };
  if (S_ISDIR(st.st_mode)) return not_regular("a directory", " (name a TOML file)");
  if (S_ISFIFO(st.st_mode)) return not_regular("a FIFO (named pipe)", "; it was not opened (reading it could block forever)");
  if (S_ISSOCK(st.st_mode)) return not_regular("a socket");
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return not_regular("a device");
  if (!S_ISREG(st.st_mode)) return not_regular("a special file");
  // O_NONBLOCK: should the path be swapped for a FIFO after the check, open
  // still returns at once, and fstat below refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES) return fail(fmt::format("cannot read {}: permission denied (not readable by this user)", path));
    return fail(fmt::format("cannot read {}: {}", path, std::strerror(e)));
  }
  std::string out;
  struct stat fst {};
  if (::fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
    ::close(fd);
    return not_regular("no longer a regular file");
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail(fmt::format("cannot read {}: {}", path, std::strerror(e)));
    }
    break;
  }
  ::close(fd);
  return out;
}

namespace stdfs = std::filesystem;


// A place in a file, for diagnostics that point at something seen earlier.
struct Loc {
  std::string file;
  int line = 1;
  int column = 1;
};

// Where a name is referenced, checked once every file is read.
struct Ref {
  std::string kind;  // "probe", "flag provider", "rollback", "incident sink"
  std::string name;
  Loc loc;
  std::string path;
};

using Reader = ConfigReader;

class Loader : public ConfigSink {
 public:
  std::vector<Diagnostic> diags;
  Config cfg;
  std::vector<Ref> refs;
  std::map<std::string, std::map<std::string, Loc>> seen;  // section -> name -> first definition
  std::string current_file;
  std::string digest_input;

  Loc loc_of(const toml::source_region& src) const {
    Loc l{current_file, 1, 1};
    if (src.begin.line > 0) {
      l.line = static_cast<int>(src.begin.line);
      l.column = static_cast<int>(src.begin.column);
    }
    return l;
  }

  void error(const Loc& l, std::string path, std::string msg) {
    diags.push_back(Diagnostic{l.file, l.line, l.column, std::move(path), secrets::redact(msg)});
  }
  void error(const toml::source_region& at, std::string path, std::string msg) override {
    error(loc_of(at), std::move(path), std::move(msg));
  }
  void reference(std::string kind, std::string name, const toml::source_region& at, std::string path) override {
    refs.push_back(Ref{std::move(kind), std::move(name), loc_of(at), std::move(path)});
  }
  DecodeContext decode_context;
  const DecodeContext& context() const override { return decode_context; }

  // Parses one file; returns nullopt after reporting a syntax error.
  std::optional<toml::table> parse(const std::string& file) {
    current_file = file;
    auto content = read_config_file(file);
    if (!content) {
      error(Loc{file, 1, 1}, "", content.error().message);
      return std::nullopt;
    }
    digest_input += file + "\n" + *content + "\n";
    try {
      return toml::parse(*content, file);
    } catch (const toml::parse_error& e) {
      Loc l = loc_of(e.source());
      std::string desc(e.description());
      // TOML itself rejects a table defined twice; say it in our words.
      static const std::regex redefine(R"(cannot redefine existing table '([a-z_]+)\.(.+)')");
      std::smatch m;
      static const std::map<std::string, std::string> what{{"probes", "probe"},
                                                          {"policies", "policy"}, {"services", "service"},
                                                          {"flag_providers", "flag provider"},
                                                          {"rollbacks", "rollback"},
                                                          {"incident_sinks", "incident sink"},
                                                          {"metric_sources", "metric source"},
                                                          {"log_sources", "log source"}};
      if (std::regex_search(desc, m, redefine) && what.contains(m[1].str()))
        error(l, m[1].str() + "." + m[2].str(),
              fmt::format("duplicate {} name '{}' (a table may be defined only once)", what.at(m[1].str()), m[2].str()));
      else
        error(l, "", fmt::format("TOML syntax error: {}", desc));
      return std::nullopt;
    }
  }

  bool claim(const std::string& section, const std::string& what, const std::string& name, const Loc& at,
             const std::string& path) {
    auto& names = seen[section];
    auto it = names.find(name);
    if (it != names.end()) {
      error(at, path,
            fmt::format("duplicate {} name '{}' (first defined at {}:{}:{})", what, name, it->second.file,
                        it->second.line, it->second.column));
      return false;
    }
    names.emplace(name, at);
    return true;
  }

  void load(const std::string& main_path);
  void read_file(const toml::table& root, const std::string& dir, bool is_main);
  void read_agent(Reader& r);
  void read_rails(Reader& r, ActionRails& rails);
  void read_watch(Reader& r);
  std::string file_service;  // the current file's `service`, the default of its policies
  std::vector<ServiceSpec> declared_services;
  void read_probe(Reader& r, const std::string& name);
  void read_policy(Reader& r, const std::string& name);
  void read_action(Reader& r, ActionSpec& action);
  void read_flag_provider(Reader& r, const std::string& name);
  void read_rollback(Reader& r, const std::string& name);
  void read_sink(Reader& r, const std::string& name);
  void read_metric_source(Reader& r, const std::string& name);
  void read_metric_condition(Reader& r, PolicySpec& p, size_t index);
  std::optional<ScrapeQuery> read_scrape_query(Reader& r);
  // Checks that depend on a metric source's type, run once every file is read.
  struct SourceUse {
    std::string source;
    bool promql = false, scrape = false, baseline = false;
    Loc loc;
    std::string path;
  };
  std::vector<SourceUse> source_uses;
  void check_refs();
};



void Loader::load(const std::string& main_path) {
  // Diagnostics name files as the user wrote them; resolution uses absolute paths.
  std::error_code ec;
  std::string main_abs = stdfs::absolute(main_path, ec).lexically_normal().string();
  std::string dir_display = stdfs::path(main_path).parent_path().string();
  std::string dir = stdfs::path(main_abs).parent_path().string();
  cfg.path = main_abs;
  auto root = parse(main_path);
  if (!root) return;
  cfg.files.push_back(main_abs);

  // Includes first (their names are needed for reference checks), then the main file.
  std::vector<std::tuple<std::string, std::string, toml::table>> included;  // display, absolute, table
  if (const toml::node* inc = root->get("include")) {
    std::vector<const toml::node*> patterns;
    if (inc->is_string()) patterns.push_back(inc);
    else if (inc->is_array())
      for (const auto& e : *inc->as_array()) patterns.push_back(&e);
    else
      error(loc_of(inc->source()), "include", fmt::format("expected an array of file patterns, found {}", toml_type_name(*inc)));
    for (const toml::node* p : patterns) {
      current_file = main_path;
      if (!p->is_string()) {
        error(loc_of(p->source()), "include", fmt::format("expected a file pattern string, found {}", toml_type_name(*p)));
        continue;
      }
      std::string pattern = p->as_string()->get();
      std::string shown = stdfs::path(pattern).is_absolute() || dir_display.empty()
                              ? pattern
                              : (stdfs::path(dir_display) / pattern).string();
      glob_t g{};
      int rc = ::glob(shown.c_str(), 0, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
      ::globfree(&g);
      bool wildcard = pattern.find_first_of("*?[") != std::string::npos;
      if (matches.empty() && !wildcard) {
        error(loc_of(p->source()), "include", fmt::format("included file {} does not exist", pattern));
        continue;
      }
      std::sort(matches.begin(), matches.end());
      for (const auto& m : matches) {
        std::string mabs = stdfs::absolute(m, ec).lexically_normal().string();
        if (std::find(cfg.files.begin(), cfg.files.end(), mabs) != cfg.files.end()) continue;
        auto t = parse(m);
        if (!t) continue;
        cfg.files.push_back(mabs);
        included.emplace_back(m, mabs, std::move(*t));
      }
    }
  }
  current_file = main_path;
  // The default journal's directory, unless [agent] names a journal.
  decode_context.artifacts_dir = (stdfs::path(dir) / "artifacts").string();
  read_file(*root, dir, true);
  for (auto& [shown, abs, table] : included) {
    current_file = shown;
    read_file(table, stdfs::path(abs).parent_path().string(), false);
  }
  current_file = main_path;

  if (cfg.agent.service.empty() && !root->get("agent")) {
    error(Loc{main_path, 1, 1}, "agent", "missing [agent] section (service = \"...\" is required)");
  }
  if (cfg.agent.journal.empty()) cfg.agent.journal = (stdfs::path(dir) / "deployguard-journal.jsonl").string();
  if (cfg.incident_sinks.empty()) {
    // No sink configured: incidents still land somewhere a responder can read.
    cfg.incident_sinks.push_back(IncidentSinkSpec{
        "default", "file", FileSinkSpec{(stdfs::path(cfg.agent.journal).parent_path() / "deployguard-incidents.jsonl").string()}});
  }
  if (cfg.policies.empty() && diags.empty())
    error(Loc{main_path, 1, 1}, "policies", "no policy defined: nothing would be guarded");
  // Every policy guards a service; the agent's is the default and comes first.
  cfg.services.push_back(ServiceSpec{.name = cfg.agent.service, .rails = cfg.agent.rails});
  for (auto& p : cfg.policies) {
    if (p.service.empty()) p.service = cfg.agent.service;
    if (!cfg.service(p.service)) cfg.services.push_back(ServiceSpec{.name = p.service, .rails = cfg.agent.rails});
  }
  for (auto& d : declared_services) {
    if (ServiceSpec* s = const_cast<ServiceSpec*>(cfg.service(d.name))) {
      s->release = d.release;
      s->release_from = d.release_from;
      s->rails = d.rails;
    } else {
      cfg.services.push_back(d);
    }
  }
  check_refs();
  cfg.digest = sha256_hex(digest_input);
}

void Loader::read_file(const toml::table& root, const std::string& dir, bool is_main) {
  Reader r(*this, root, "", dir);
  if (is_main) {
    r.node("include");  // handled in load()
    if (const toml::table* a = r.table("agent")) {
      Reader ar = r.child(*a, "agent");
      read_agent(ar);
      ar.finish();
    }
    if (const toml::table* w = r.table("watch")) {
      Reader wr = r.child(*w, "watch");
      read_watch(wr);
      wr.finish();
    }
  } else {
    for (const char* main_only : {"agent", "include", "watch"}) {
      if (const toml::node* n = root.get(main_only)) {
        error(loc_of(n->source()), main_only, fmt::format("'{}' is allowed only in the main config file", main_only));
        r.node(main_only);
      }
    }
  }
  // A file may say which service its policies guard (one file per service).
  file_service = "";
  if (auto v = r.str("service")) {
    if (v->empty()) r.error_at(root.get("service"), "service", "must not be empty");
    file_service = *v;
  }
  r.each_named("services", [&](Reader& sr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("services", "service", name, at, sr.base_path());
    // [agent] is read first: a service's rails replace the agent's key by key.
    ServiceSpec s{.name = name, .rails = cfg.agent.rails};
    if (auto v = sr.str("release")) s.release = *v;
    read_rails(sr, s.rails);
    if (const toml::table* t = sr.table("release_from")) {
      Reader fr = sr.child(*t, sr.key_path("release_from"));
      ServiceSpec::ReleaseFrom f;
      SourceUse use{.loc = loc_of(t->source()), .path = fr.base_path()};
      if (auto v = fr.str("source", true, "the name of a metric source")) {
        f.source = use.source = *v;
        fr.reference(t->get("source"), "metric source", *v, fr.key_path("source"));
      }
      if (auto v = fr.str("query")) {
        f.query.promql = *v;
        use.promql = true;
      }
      if (auto q = read_scrape_query(fr)) {
        f.query.scrape = *q;
        use.scrape = true;
      }
      if (!use.promql && !use.scrape) fr.missing("query", "PromQL for a prometheus source, or 'metric' for a scrape source");
      if (auto v = fr.str("label", true, "the label that carries the release")) f.label = *v;
      // A scrape selection sums its series; kept apart by the label, each
      // release's series count separately.
      if (use.scrape && f.query.scrape.by.empty()) f.query.scrape.by = {f.label};
      if (auto v = fr.duration("interval", Duration{100})) f.interval = *v;
      fr.finish();
      source_uses.push_back(std::move(use));
      s.release_from = std::move(f);
    }
    declared_services.push_back(std::move(s));
  });
  r.each_named("probes", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("probes", "probe", name, at, pr.base_path());  // a duplicate is still checked
    read_probe(pr, name);
  });
  r.each_named("policies", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("policies", "policy", name, at, pr.base_path());  // a duplicate is still checked
    read_policy(pr, name);
  });
  r.each_named("flag_providers", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("flag_providers", "flag provider", name, at, pr.base_path());  // a duplicate is still checked
    read_flag_provider(pr, name);
  });
  r.each_named("rollbacks", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("rollbacks", "rollback", name, at, pr.base_path());  // a duplicate is still checked
    read_rollback(pr, name);
  });
  r.each_named("metric_sources", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("metric_sources", "metric source", name, at, pr.base_path());  // a duplicate is still checked
    read_metric_source(pr, name);
  });
  r.each_named("log_sources", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("log_sources", "log source", name, at, pr.base_path());  // a duplicate is still checked
    logs::LogSourceSpec s;
    logs::decode_log_source(pr, name, s);
    cfg.log_sources.push_back(std::move(s));
  });
  r.each_named("incident_sinks", [&](Reader& pr, const std::string& name, const toml::source_region& src) {
    Loc at = loc_of(src);
    claim("incident_sinks", "incident sink", name, at, pr.base_path());  // a duplicate is still checked
    read_sink(pr, name);
  });
  r.finish();
}


std::string table_digest(const toml::table& t) {
  std::ostringstream os;
  os << t;
  return sha256_hex(os.str());
}

void Loader::read_watch(Reader& r) {
  WatchSpec& w = cfg.watch;
  if (auto v = r.str("address")) {
    if (v->empty()) r.error_at(r.raw().get("address"), "watch.address", "must not be empty (default 127.0.0.1)");
    w.address = *v;
  }
  if (auto v = r.integer("port", 0, 65535)) w.port = static_cast<int>(*v);
  // Tokens are secrets: only from the environment, never written in the file.
  for (auto [key, out] : {std::pair{"alarm_token", &w.alarm_token}, std::pair{"read_token", &w.read_token}}) {
    const toml::node* n = r.raw().get(key);
    if (n && n->is_string() && !secrets::is_reference(n->as_string()->get())) {
      r.node(key);
      r.error_at(n, r.key_path(key), "literal secret in the config; reference it from the environment as \"env:NAME\"");
      continue;
    }
    if (auto v = r.secret_str(key)) {
      if (v->empty()) r.error_at(n, r.key_path(key), "the environment variable is empty");
      *out = *v;
    }
  }
  if (auto v = r.str("trusted_user_header")) {
    // An HTTP field name (RFC 9110 token), kept lower-case as the listener stores names.
    std::string name = *v;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    });
    const toml::node* n = r.raw().get("trusted_user_header");
    if (!token) r.error_at(n, "watch.trusted_user_header", "must be an HTTP header name such as \"X-Forwarded-User\"");
    else if (name == "authorization" || name == "cookie" || name == "host")
      r.error_at(n, "watch.trusted_user_header", "must be a header only the authenticating proxy sets, not " + *v);
    else w.trusted_user_header = name;
  }
  if (auto v = r.path("tls_cert")) w.tls_cert = *v;
  if (auto v = r.path("tls_key")) w.tls_key = *v;
  if (w.tls_cert.empty() != w.tls_key.empty())
    r.error_at(nullptr, r.key_path(w.tls_cert.empty() ? "tls_cert" : "tls_key"), "tls_cert and tls_key go together");
  if (auto v = r.integer("max_body", 1024, 64 * 1024 * 1024)) w.max_body = static_cast<size_t>(*v);
  if (auto v = r.integer("max_connections", 1, 100'000)) w.max_connections = static_cast<int>(*v);
  if (auto v = r.duration("read_timeout", Duration{100})) w.read_timeout = *v;
  if (auto v = r.number("requests_per_second")) {
    if (*v <= 0) r.error_at(r.raw().get("requests_per_second"), "watch.requests_per_second", "must be positive");
    w.requests_per_second = *v;
  }
  if (auto v = r.number("mutations_per_second")) {
    if (*v <= 0) r.error_at(r.raw().get("mutations_per_second"), "watch.mutations_per_second", "must be positive");
    w.mutations_per_second = *v;
  }
  if (auto v = r.duration("reload_poll", Duration{100})) w.reload_poll = *v;
  if (auto v = r.duration("shutdown_grace", Duration{0})) w.shutdown_grace = *v;
  if (auto v = r.duration("checkpoint_every", Duration{1000})) w.checkpoint_every = *v;
}

void Loader::read_agent(Reader& r) {
  AgentSpec& a = cfg.agent;
  if (auto v = r.str("service", true, "the name of the guarded service")) {
    if (v->empty()) r.error_at(r.raw().get("service"), "agent.service", "must not be empty");
    a.service = *v;
  }
  if (auto v = r.str("environment")) a.environment = *v;
  if (auto v = r.path("journal")) {
    a.journal = *v;
    decode_context.artifacts_dir = (stdfs::path(*v).parent_path() / "artifacts").string();
  }
  if (auto v = r.integer("journal_segment_size", 4096, 1LL << 40)) a.journal_segment_size = *v;
  if (auto v = r.boolean("dry_run")) a.dry_run = *v;
  if (auto v = r.duration("bake", Duration{100})) a.bake = *v;
  if (auto v = r.strings("child_env", false, false)) {
    static const std::regex name(R"([A-Za-z_][A-Za-z0-9_]*\*?)");
    for (size_t i = 0; i < v->size(); ++i)
      if (!std::regex_match((*v)[i], name))
        r.error_at(r.raw().get("child_env"), fmt::format("agent.child_env[{}]", i),
                   fmt::format("\"{}\" is not an environment variable name (expected e.g. \"KUBECONFIG\" or \"AWS_*\")",
                               (*v)[i]));
    a.child_env = *v;
    decode_context.child_env = *v;
  }
  read_rails(r, a.rails);
}

// The rollback budget and cooldown ([agent] for every service, or one service's).
void Loader::read_rails(Reader& r, ActionRails& rails) {
  if (auto v = r.integer("max_rollbacks", 0, 1000)) rails.max_rollbacks = static_cast<int>(*v);
  if (auto v = r.duration("rollback_window", Duration{1000})) rails.rollback_window = *v;
  if (auto v = r.duration("rollback_cooldown", Duration{0})) rails.cooldown = *v;
}


// A plugin table's type-specific keys, through the decoder its type registered.
template <class Registry, class Spec>
void decode_plugin(const Registry& registry, Reader& r, Spec& spec) {
  if (const auto* decode = registry.decoder(spec.type)) (*decode)(r, spec);
}

void Loader::read_probe(Reader& r, const std::string& name) {
  ProbeSpec spec;
  spec.name = name;
  spec.digest = table_digest(r.raw());
  auto type = read_type(r, builtin_probes().types(), "probe");
  if (auto v = r.str("description")) spec.description = *v;
  if (auto v = r.duration("interval", Duration{100})) spec.interval = *v;
  if (auto v = r.duration("timeout", Duration{1})) spec.timeout = *v;
  if (!type) return;
  spec.type = *type;
  decode_plugin(builtin_probes(), r, spec);
  cfg.probes.push_back(std::move(spec));
}

void Loader::read_policy(Reader& r, const std::string& name) {
  PolicySpec p;
  p.name = name;
  p.digest = table_digest(r.raw()) + "|" + file_service;
  p.service = file_service;
  if (auto v = r.str("service")) {
    if (v->empty()) r.error_at(r.raw().get("service"), r.key_path("service"), "must not be empty");
    p.service = *v;
  }
  if (auto v = r.str("description")) p.description = *v;
  if (auto v = r.str("scope")) p.scope = *v;
  if (const toml::node* n = r.node("probes")) {
    if (!n->is_array() || n->as_array()->empty()) {
      r.error_at(n, r.key_path("probes"), "expected a non-empty array of probe names");
    } else {
      const auto& arr = *n->as_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        std::string path = fmt::format("{}[{}]", r.key_path("probes"), i);
        if (!arr[i].is_string()) {
          r.error_at(&arr[i], path, fmt::format("expected a probe name, found {}", toml_type_name(arr[i])));
          continue;
        }
        p.probes.push_back(arr[i].as_string()->get());
        r.reference(&arr[i], "probe", p.probes.back(), path);
      }
    }
  }
  if (auto i = r.choice("combine", {"any", "all"})) p.combine = *i == 0 ? Combine::Any : Combine::All;
  r.each_table("metrics", "a metric condition table", [&](Reader& mr, size_t i) { read_metric_condition(mr, p, i); });
  r.each_table("logs", "a log condition table", [&](Reader& lr, size_t i) {
    MetricCondition c;
    logs::decode_log_condition(lr, p.name, i, c);
    p.metrics.push_back(std::move(c));
  });
  if (p.probes.empty() && p.metrics.empty() && !r.raw().get("probes"))
    r.error_at(nullptr, r.key_path("probes"), "policy judges nothing: list probes or add [[policies." + name + ".metrics]]");
  bool window_set = false;
  if (const toml::table* w = r.table("window")) {
    Reader wr = r.child(*w, r.key_path("window"));
    auto k = wr.integer("failures", 1, 10'000, true);
    auto n = wr.integer("runs", 1, 10'000, true);
    wr.finish();
    if (k && n) {
      if (*k > *n) r.error_at(w, r.key_path("window"), fmt::format("failures ({}) cannot exceed runs ({})", *k, *n));
      p.window_failures = static_cast<int>(*k);
      p.window_runs = static_cast<int>(*n);
      window_set = true;
    }
  }
  if (auto v = r.integer("consecutive_failures", 0, 10'000)) p.consecutive_failures = static_cast<int>(*v);
  else if (window_set) p.consecutive_failures = 0;
  if (p.consecutive_failures == 0 && p.window_runs == 0)
    r.error_at(nullptr, r.key_path("consecutive_failures"), "no trip rule: set consecutive_failures >= 1 or a window");
  if (auto v = r.integer("max_consecutive_errors", 0, 10'000)) p.max_consecutive_errors = static_cast<int>(*v);
  if (auto i = r.choice("on_errors", {"inconclusive", "trip"})) p.on_errors = *i == 0 ? OnErrors::Inconclusive : OnErrors::Trip;
  if (auto v = r.integer("min_observations", 1, 100'000)) p.min_observations = static_cast<int>(*v);
  if (auto v = r.duration("verify_for", Duration{100})) p.verify_for = *v;
  if (auto v = r.integer("recovery_passes", 1, 10'000)) p.recovery_passes = static_cast<int>(*v);
  if (auto v = r.boolean("dry_run")) p.dry_run = *v;
  if (const toml::node* n = r.node("incident_sinks")) {
    if (!n->is_array()) {
      r.wrong_type("incident_sinks", *n, "an array of incident sink names");
    } else {
      const auto& arr = *n->as_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        std::string path = fmt::format("{}[{}]", r.key_path("incident_sinks"), i);
        if (!arr[i].is_string()) {
          r.error_at(&arr[i], path, fmt::format("expected an incident sink name, found {}", toml_type_name(arr[i])));
          continue;
        }
        p.incident_sinks.push_back(arr[i].as_string()->get());
        r.reference(&arr[i], "incident sink", p.incident_sinks.back(), path);
      }
    }
  }
  const toml::node* acts = r.raw().get("actions");
  if (acts == nullptr) {
    r.node("actions");
    r.error_at(nullptr, r.key_path("actions"),
               "policy has no action: add [[policies." + name + ".actions]] (a flag flip or a rollback)");
  } else if (acts->is_array() && acts->as_array()->empty()) {
    r.node("actions");
    r.error_at(acts, r.key_path("actions"), "policy has no action: expected a non-empty array of action tables");
  } else {
    r.each_table("actions", "an action table", [&](Reader& ar, size_t) {
      ActionSpec action;
      read_action(ar, action);
      p.actions.push_back(std::move(action));
    });
  }
  cfg.policies.push_back(std::move(p));
}

void Loader::read_action(Reader& r, ActionSpec& action) {
  auto type = read_type(r, {"flag", "rollback"}, "action");
  if (!type) return;
  action.type = *type;
  if (*type == "flag") {
    FlagActionSpec f;
    if (auto v = r.str("provider", true, "the name of a flag provider")) {
      f.provider = *v;
      r.reference(r.raw().get("provider"), "flag provider", *v, r.key_path("provider"));
    }
    if (auto v = r.str("flag", true, "the flag key")) f.flag = *v;
    if (auto v = r.str("variant")) f.variant = *v;
    if (auto v = r.str("segment")) {
      auto compiled = compile_segment(*v);
      if (!compiled) r.error_at(r.raw().get("segment"), r.key_path("segment"), compiled.error().message);
      else {
        f.segment = *v;
        f.segment_jsonlogic = *compiled;
      }
    }
    if (r.node("confirm_within"))
      r.error("confirm_within", "a flag flip never waits: confirm_within is a rollback's veto window");
    action.kind = std::move(f);
  } else {
    RollbackActionSpec rb;
    if (auto v = r.duration("confirm_within", Duration{1000})) rb.confirm_within = *v;
    if (auto v = r.str("rollback", true, "the name of a rollback")) {
      rb.rollback = *v;
      r.reference(r.raw().get("rollback"), "rollback", *v, r.key_path("rollback"));
    }
    action.kind = std::move(rb);
  }
}

void Loader::read_flag_provider(Reader& r, const std::string& name) {
  FlagProviderSpec s{.name = name};
  auto type = read_type(r, builtin_flag_providers().types(), "flag provider");
  if (!type) return;
  s.type = *type;
  decode_plugin(builtin_flag_providers(), r, s);
  cfg.flag_providers.push_back(std::move(s));
}

void Loader::read_rollback(Reader& r, const std::string& name) {
  RollbackSpec s{.name = name};
  auto type = read_type(r, builtin_rollbacks().types(), "rollback");
  if (auto v = r.duration("timeout")) s.timeout = *v;
  if (!type) return;
  s.type = *type;
  // Every type's read-back check ("is the previous release serving now?").
  r.with_table("check", [&](Reader& c) {
    RollbackCheckSpec check;
    decode_rollback_check(c, check);
    s.check = std::move(check);
  });
  decode_plugin(builtin_rollbacks(), r, s);
  cfg.rollbacks.push_back(std::move(s));
}

void Loader::read_sink(Reader& r, const std::string& name) {
  IncidentSinkSpec s{.name = name};
  auto type = read_type(r, builtin_incident_sinks().types(), "incident sink");
  if (!type) return;
  s.type = *type;
  decode_plugin(builtin_incident_sinks(), r, s);
  cfg.incident_sinks.push_back(std::move(s));
}

void Loader::read_metric_source(Reader& r, const std::string& name) {
  MetricSourceSpec s{.name = name};
  auto type = read_type(r, builtin_metric_sources().types(), "metric source");
  if (!type) return;
  s.type = *type;
  decode_plugin(builtin_metric_sources(), r, s);
  cfg.metric_sources.push_back(std::move(s));
}

std::optional<ScrapeQuery> Loader::read_scrape_query(Reader& r) {
  ScrapeQuery q;
  auto metric = r.str("metric");
  if (!metric) return std::nullopt;
  q.metric = *metric;
  bool ok = !q.metric.empty() && (std::isalpha(static_cast<unsigned char>(q.metric[0])) || q.metric[0] == '_' || q.metric[0] == ':');
  for (char c : q.metric) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':');
  if (!ok) r.error_at(r.raw().get("metric"), r.key_path("metric"), fmt::format("invalid metric name '{}'", q.metric));
  if (const toml::table* labels = r.table("labels")) {
    for (auto&& [k, v] : *labels) {
      std::string path = r.key_path("labels") + "." + std::string(k.str());
      if (!v.is_string()) {
        r.error_at(&v, path, fmt::format("expected a string (\"value\", \"!value\", \"~regex\" or \"!~regex\"), found {}", toml_type_name(v)));
        continue;
      }
      std::string text = v.as_string()->get();
      LabelMatcher m{.name = std::string(k.str())};
      if (text.starts_with("!~")) { m.op = LabelMatcher::Op::NotRe; m.value = text.substr(2); }
      else if (text.starts_with("~")) { m.op = LabelMatcher::Op::Re; m.value = text.substr(1); }
      else if (text.starts_with("!")) { m.op = LabelMatcher::Op::Ne; m.value = text.substr(1); }
      else m.value = text;
      if (m.op == LabelMatcher::Op::Re || m.op == LabelMatcher::Op::NotRe) {
        auto re = Regex::compile(m.value);
        if (re) m.re = *re;
        else r.error_at(&v, path, fmt::format("invalid regex /{}/: {}", m.value, re.error().message));
      }
      q.matchers.push_back(std::move(m));
    }
  }
  if (auto i = r.choice("function", {"value", "rate", "quantile"}))
    q.function = std::array{ScrapeQuery::Function::Value, ScrapeQuery::Function::Rate, ScrapeQuery::Function::Quantile}[*i];
  if (auto v = r.duration("window", Duration{0})) {
    q.window = *v;
    if (q.window.count() < 100 && q.function == ScrapeQuery::Function::Rate)
      r.error_at(r.raw().get("window"), r.key_path("window"), "a rate needs a window of at least 100ms");
  }
  if (const toml::node* n = r.node("quantile")) {
    double qv = n->is_floating_point() ? n->as_floating_point()->get() : n->is_integer() ? static_cast<double>(n->as_integer()->get()) : -1;
    if (qv < 0 || qv > 1) r.error_at(n, r.key_path("quantile"), "expected a number from 0 to 1");
    else q.quantile = qv;
  }
  if (auto v = r.strings("by", false, false)) q.by = *v;
  return q;
}


void Loader::read_metric_condition(Reader& r, PolicySpec& p, size_t index) {
  MetricCondition c;
  std::string label = std::to_string(index);
  if (auto v = r.str("name")) label = *v;
  c.id = p.name + "/" + label;
  SourceUse use;
  use.loc = loc_of(r.raw().source());
  use.path = r.base_path();
  if (auto v = r.str("source", true, "the name of a metric source")) {
    c.source = *v;
    use.source = *v;
    r.reference(r.raw().get("source"), "metric source", *v, r.key_path("source"));
  }
  std::string type = "threshold";
  if (auto v = r.str("type")) type = *v;
  if (type == "threshold") c.kind = MetricCondition::Kind::Threshold;
  else if (type == "baseline") c.kind = MetricCondition::Kind::Baseline;
  else if (type == "canary") c.kind = MetricCondition::Kind::Canary;
  else if (type == "compare") c.kind = MetricCondition::Kind::Compare;
  else r.error_at(r.raw().get("type"), r.key_path("type"),
                  fmt::format("unknown metric condition type '{}' (known: 'threshold', 'baseline', 'canary', 'compare')", type));
  if (c.kind != MetricCondition::Kind::Canary) {
    if (auto v = r.str("query")) {
      c.query.promql = *v;
      use.promql = true;
    }
    if (auto q = read_scrape_query(r)) {
      c.query.scrape = *q;
      use.scrape = true;
    }
    if (!use.promql && !use.scrape) r.missing("query", "PromQL for a prometheus source, or 'metric' for a scrape source");
    if (c.kind == MetricCondition::Kind::Compare) {
      const toml::node* n = r.node("baseline_query");
      if (!n) r.missing("baseline_query", "the baseline arm: PromQL, or { metric = ..., labels = {...} } for a scrape source");
      else if (n->is_string()) c.baseline_query.promql = n->as_string()->get();
      else if (n->is_table()) {
        Reader br = r.child(*n->as_table(), r.key_path("baseline_query"));
        if (auto sq = read_scrape_query(br)) c.baseline_query.scrape = *sq;
        else br.missing("metric", "the series to read");
        br.finish();
      } else {
        r.wrong_type("baseline_query", *n, "a query string or a table");
      }
    }
    if (use.promql && use.scrape) r.error_at(nullptr, r.key_path("query"), "give either 'query' (prometheus) or 'metric' (scrape), not both");
  } else {
    auto arm = [&](const char* key, MetricQuery& q) {
      const toml::node* n = r.node(key);
      if (!n) {
        r.missing(key, "a PromQL query (prometheus) or { metric = ..., labels = {...} } (scrape) giving a cumulative count");
        return;
      }
      if (n->is_string()) {
        q.promql = n->as_string()->get();
        use.promql = true;
      } else if (n->is_table()) {
        Reader ar = r.child(*n->as_table(), r.key_path(key));
        if (auto sq = read_scrape_query(ar)) q.scrape = *sq;
        else ar.missing("metric", "the counter to read");
        ar.finish();
        use.scrape = true;
      } else {
        r.wrong_type(key, *n, "a query string or a table");
      }
    };
    arm("canary_errors", c.canary_errors);
    arm("canary_total", c.canary_total);
    arm("baseline_errors", c.baseline_errors);
    arm("baseline_total", c.baseline_total);
    if (auto v = r.number("alpha")) {
      if (*v <= 0 || *v >= 0.5) r.error_at(r.raw().get("alpha"), r.key_path("alpha"), "alpha must be between 0 and 0.5");
      else c.alpha = *v;
    }
    // It guards only a healthy verdict (a trip needs no minimum), and a healthy
    // verdict needs traffic on both arms: at least one request each.
    if (auto v = r.number("min_requests")) {
      if (*v < 1) r.error_at(r.raw().get("min_requests"), r.key_path("min_requests"),
                             fmt::format("min_requests must be at least 1 (requests per arm before a healthy verdict), got {}", *v));
      else c.min_requests = *v;
    }
    if (auto v = r.number("max_ratio")) {
      if (!(*v > 1) || *v > 1000)
        r.error_at(r.raw().get("max_ratio"), r.key_path("max_ratio"),
                   fmt::format("max_ratio must be above 1 and at most 1000 (the canary/baseline error ratio a healthy "
                               "verdict must exclude, e.g. 3), got {}", *v));
      else c.max_ratio = *v;
    }
  }
  c.above = r.number("above");
  c.below = r.number("below");
  if (c.kind == MetricCondition::Kind::Threshold) {
    if (c.above.has_value() == c.below.has_value())
      r.error_at(nullptr, r.key_path("above"), "a threshold needs exactly one of 'above' or 'below'");
  }
  if (c.kind == MetricCondition::Kind::Baseline || c.kind == MetricCondition::Kind::Compare) {
    use.baseline = c.kind == MetricCondition::Kind::Baseline;
    const toml::node* n = r.node("max_increase");
    if (!n) {
      r.missing("max_increase", "e.g. \"50%\" or an absolute amount such as 0.01");
    } else if (n->is_string()) {
      std::string t = n->as_string()->get();
      double pct = 0;
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), pct);
      if (ec != std::errc{} || std::string_view(ptr) != "%" || pct < 0)
        r.error_at(n, r.key_path("max_increase"), fmt::format("invalid percentage \"{}\" (write e.g. \"50%\")", t));
      c.max_increase = pct / 100.0;
      c.increase_relative = true;
    } else if (n->is_integer() || n->is_floating_point()) {
      c.max_increase = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
      c.increase_relative = false;
    } else {
      r.wrong_type("max_increase", *n, "a percentage string or a number");
    }
    if (c.below) r.error_at(r.raw().get("below"), r.key_path("below"), "this condition takes 'above' (a floor), not 'below'");
  }
  if (auto v = r.duration("for", Duration{0})) c.hold_for = *v;
  if (c.kind == MetricCondition::Kind::Canary)
    for (const char* k : {"above", "below", "for"})
      if (const toml::node* n = r.raw().get(k))
        r.error_at(n, r.key_path(k), fmt::format("'{}' has no meaning for a canary condition (it trips by its sequential test: tune alpha, max_ratio and min_requests)", k));
  if (auto i = r.choice("on_no_data", {"inconclusive", "trip", "ignore"}))
    c.on_no_data = std::array{OnNoData::Inconclusive, OnNoData::Trip, OnNoData::Ignore}[*i];
  if (auto v = r.integer("max_source_errors", 1, 10'000)) c.max_source_errors = static_cast<int>(*v);
  if (auto v = r.duration("interval", Duration{100})) c.interval = *v;
  for (const auto& other : p.metrics)
    if (other.id == c.id) r.error_at(r.raw().get("name"), r.key_path("name"), fmt::format("duplicate metric condition name '{}'", label));
  source_uses.push_back(std::move(use));
  p.metrics.push_back(std::move(c));
}

void Loader::check_refs() {
  auto names = [&](const std::string& section) {
    std::vector<std::string> out;
    for (const auto& [n, l] : seen[section]) out.push_back(n);
    return out;
  };
  std::map<std::string, std::string> section_of{{"probe", "probes"},
                                                {"metric source", "metric_sources"},
                                                {"flag provider", "flag_providers"},
                                                {"rollback", "rollbacks"},
                                                {"incident sink", "incident_sinks"},
                                                {"log source", "log_sources"}};
  for (const auto& r : refs) {
    auto known = names(section_of[r.kind]);
    if (std::find(known.begin(), known.end(), r.name) != known.end()) continue;
    auto hint = text::closest(r.name, known);
    std::string msg = fmt::format("unknown {} '{}'", r.kind, r.name);
    if (hint) msg += fmt::format(" (did you mean '{}'?)", *hint);
    else if (known.empty()) msg += fmt::format(" (no {} is defined; add [{}.{}])", r.kind, section_of[r.kind], r.name);
    else msg += fmt::format(" (defined: {})", join_quoted(known));
    error(r.loc, r.path, msg);
  }
  for (const auto& p : cfg.policies) {
    Duration slowest{0};
    for (const auto& name : p.probes)
      for (const auto& probe : cfg.probes)
        if (probe.name == name) slowest = std::max(slowest, probe.interval);
    for (const auto& m : p.metrics)
      if (m.log.empty()) slowest = std::max(slowest, m.interval);  // log conditions have no say in recovery
    if (slowest.count() > 0 && p.verify_for < slowest * (p.recovery_passes - 1)) {
      auto at = seen["policies"].count(p.name) ? seen["policies"][p.name] : Loc{cfg.path, 1, 1};
      error(at, "policies." + p.name + ".verify_for",
            fmt::format("verify_for {} is too short to see recovery_passes = {} at an interval of {} (needs at least {})",
                        format_duration(p.verify_for), p.recovery_passes, format_duration(slowest),
                        format_duration(slowest * (p.recovery_passes - 1))));
    }
  }
  for (const auto& u : source_uses) {
    auto it = std::find_if(cfg.metric_sources.begin(), cfg.metric_sources.end(),
                           [&](const MetricSourceSpec& m) { return m.name == u.source; });
    if (it == cfg.metric_sources.end()) continue;  // reported above
    if (it->queries == MetricSourceSpec::Queries::PromQL && u.scrape)
      error(u.loc, u.path, fmt::format("source '{}' is a {} source: give PromQL in 'query', not 'metric'", u.source, it->type));
    if (it->queries == MetricSourceSpec::Queries::Selection && u.promql)
      error(u.loc, u.path, fmt::format("source '{}' is a {} source: select with 'metric' and 'labels', not PromQL", u.source, it->type));
    if (!it->has_history && u.baseline)
      error(u.loc, u.path, fmt::format("a baseline needs a source with history, such as prometheus (source '{}' has no history before the release)", u.source));
  }
}

}  // namespace

LoadResult load_config(const std::string& path) {
  Loader loader;
  loader.load(path);
  LoadResult result;
  std::stable_sort(loader.diags.begin(), loader.diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  result.diagnostics = std::move(loader.diags);
  if (result.diagnostics.empty()) result.config = std::move(loader.cfg);
  return result;
}

}  // namespace dg
