#pragma once
/// The `dns` probe: one query (A, AAAA, CNAME, TXT, MX, SRV) through ldns
/// (Debian's libldns: every record type and the rcode, no hand-written wire
/// format) against the system resolver or a given server, judged on the
/// rcode, the answers (contains / equals / regex) and the latency.
#include <optional>
#include <string>
#include <vector>

#include "agent/core/observation.h"
#include "agent/core/regex.h"
#include "probes/probe.h"

namespace dg {

struct DnsProbeSpec {
  std::string name;
  std::string type = "A";
  std::string server;  ///< address; empty: the system resolver (/etc/resolv.conf)
  int port = 53;
  bool tcp = false;
  std::string expect_rcode = "NOERROR";
  std::vector<std::string> answers_contain;  ///< each must be among the answers
  std::optional<std::vector<std::string>> answers_equal;  ///< the answers, as a set
  std::string answers_regex_text;
  std::optional<Regex> answers_regex;  ///< every answer must match
  std::optional<int> min_answers;
  std::optional<Duration> max_latency;
};

/// What one query showed.
struct DnsFacts {
  std::optional<std::string> error;  ///< no answer at all (timeout, refused): error
  std::string rcode;                 ///< "NOERROR", "NXDOMAIN", …
  std::vector<std::string> answers;  ///< rdata as text: "10 mail.example.test", TXT unquoted, names without the final dot
  Duration elapsed{0};
};

/// The record types the probe knows.
bool dns_type_known(const std::string& type);

Observation evaluate_dns(const std::string& probe, const DnsProbeSpec& spec, const DnsFacts& facts, TimePoint at);
DnsFacts dns_query(const DnsProbeSpec& spec, Duration timeout);

std::unique_ptr<Probe> make_dns_probe(std::string name, Duration timeout, DnsProbeSpec spec);
/// Registers the `dns` type with its config decoder (dns_config.cpp).
void register_dns_probe(ProbeRegistry& registry);

}  // namespace dg
