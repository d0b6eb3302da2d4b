#pragma once
/// The typed configuration snapshot. Built once by load_config() from TOML
/// (toml++ is used only in loader.cpp), validated completely, then trusted by
/// the rest of the agent. Immutable once built.
#include <optional>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/incidents/incident.h"
#include "agent/rollback/rollback_action.h"
#include "flags/flag_provider.h"
#include "logs/log_source.h"
#include "policies/policy_spec.h"
#include "probes/metrics/metric_source.h"
#include "probes/probe_spec.h"

namespace dg {

/// Limits on automated rollbacks of one service, counted from the journal
/// across runs and restarts. Flag flips are never limited nor delayed:
/// switching a feature off is the safe direction.
struct ActionRails {
  int max_rollbacks = 3;                ///< per rollback_window; 0 = rollbacks never run automatically
  Duration rollback_window{3'600'000};
  Duration cooldown{0};                 ///< least time between two rollbacks (a later one waits)
};

struct AgentSpec {
  std::string service;
  std::string environment = "production";
  std::string journal;  ///< absolute path
  /// Bytes after which the journal's live file is sealed (unset: the journal's default, 64 MiB).
  std::optional<long long> journal_segment_size;
  bool dry_run = false;
  Duration bake{120'000};
  /// Agent variables command probes and rollbacks may see, beyond the
  /// defaults (PATH, HOME, LANG, LC_*, TZ, USER): "NAME" or "PREFIX*".
  std::vector<std::string> child_env;
  ActionRails rails;  ///< every service's, unless its [services.NAME] sets its own
};

/// `deployguard watch`: its HTTP listener and how it runs.
struct WatchSpec {
  std::string address = "127.0.0.1";  ///< loopback unless set explicitly
  int port = 9464;
  std::string alarm_token;  ///< resolved from env:; empty = mutating endpoints refuse everyone
  std::string read_token;   ///< resolved from env:; empty = GET endpoints need no token
  /// A header an authenticating proxy in front sets to the user's identity
  /// (e.g. "X-Forwarded-User"); a request carrying it may read and mutate,
  /// and its value is journaled as who. Empty (the default): not trusted.
  std::string trusted_user_header;
  std::string tls_cert, tls_key;  ///< both or neither
  size_t max_body = 64 * 1024;
  int max_connections = 64;
  Duration read_timeout{10'000};
  double requests_per_second = 20;  ///< per client address (burst: twice that)
  double mutations_per_second = 2;  ///< per client address, POSTs (burst: five times that)
  Duration reload_poll{2000};       ///< how often the config files are checked for a change
  Duration shutdown_grace{30'000};  ///< SIGTERM: how long in-flight actions may take to finish
  Duration checkpoint_every{600'000};
};

/// A guarded service: policies name it; its current release as the config
/// knows it (CI may announce later ones through the API).
struct ServiceSpec {
  std::string name;
  std::string release;
  /// Learn the release from a label of a metric the service exposes (e.g.
  /// `wiki_build_info{release="7"}`): the value most series carry, once two
  /// reads in a row agree, starts as the new release.
  struct ReleaseFrom {
    std::string source;  ///< a metric source
    MetricQuery query;   ///< PromQL, or a scrape selection
    std::string label;
    Duration interval{10'000};
  };
  std::optional<ReleaseFrom> release_from;
  ActionRails rails;
};

struct Config {
  std::string path;                ///< the main file
  std::vector<std::string> files;  ///< main file and included files, in load order
  std::string digest;              ///< sha256 over the files' contents, for the journal
  AgentSpec agent;
  std::vector<ProbeSpec> probes;
  std::vector<PolicySpec> policies;
  std::vector<FlagProviderSpec> flag_providers;
  std::vector<RollbackSpec> rollbacks;
  std::vector<IncidentSinkSpec> incident_sinks;
  std::vector<MetricSourceSpec> metric_sources;
  std::vector<logs::LogSourceSpec> log_sources;  ///< [log_sources.NAME], decoded in logs/config.cpp
  WatchSpec watch;
  std::vector<ServiceSpec> services;  ///< every service a policy names (the agent's first)

  const ProbeSpec* probe(const std::string& name) const;
  const PolicySpec* policy(const std::string& name) const;
  const ServiceSpec* service(const std::string& name) const;
};

struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;  ///< key path, e.g. probes.editor.expect.status
  std::string message;
  /// `file:line:column: key.path: message`
  std::string str() const;
};

struct LoadResult {
  std::optional<Config> config;  ///< set only when there is no diagnostic
  std::vector<Diagnostic> diagnostics;
};

/// Reads, validates and resolves (env: secrets, relative paths) a config file.
/// Reports every problem found, not only the first.
LoadResult load_config(const std::string& path);

}  // namespace dg
