#include "probes/dns/dns_probe.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "agent/core/text.h"

namespace dg {
namespace {

using Steady = std::chrono::steady_clock;

std::optional<ldns_rr_type> type_of(const std::string& t) {
  if (t == "A") return LDNS_RR_TYPE_A;
  if (t == "AAAA") return LDNS_RR_TYPE_AAAA;
  if (t == "CNAME") return LDNS_RR_TYPE_CNAME;
  if (t == "TXT") return LDNS_RR_TYPE_TXT;
  if (t == "MX") return LDNS_RR_TYPE_MX;
  if (t == "SRV") return LDNS_RR_TYPE_SRV;
  return std::nullopt;
}

// One rdata field as people write it: names without the root dot, TXT
// strings without their quotes.
std::string field_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);
  if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME && out.size() > 1 && out.back() == '.') out.pop_back();
  if (ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_STR && out.size() >= 2 && out.front() == '"' && out.back() == '"')
    out = out.substr(1, out.size() - 2);
  return out;
}

class DnsProbe final : public Probe {
 public:
  DnsProbe(std::string name, Duration timeout, DnsProbeSpec spec)
      : name_(std::move(name)), timeout_(timeout), spec_(std::move(spec)) {}
  Observation run(const Clock& clock) override {
    TimePoint at = clock.now();
    return evaluate_dns(name_, spec_, dns_query(spec_, timeout_), at);
  }

 private:
  std::string name_;
  Duration timeout_;
  DnsProbeSpec spec_;
};

}  // namespace

bool dns_type_known(const std::string& type) { return type_of(type).has_value(); }

DnsFacts dns_query(const DnsProbeSpec& spec, Duration timeout) {
  DnsFacts f;
  auto started = Steady::now();
  auto type = type_of(spec.type);
  if (!type) {
    f.error = "unknown record type " + spec.type;
    return f;
  }
  ldns_resolver* res = nullptr;
  if (spec.server.empty()) {
    if (ldns_resolver_new_frm_file(&res, nullptr) != LDNS_STATUS_OK) {
      f.error = "cannot read the system resolver's configuration (/etc/resolv.conf)";
      return f;
    }
  } else {
    res = ldns_resolver_new();
    ldns_rdf* addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, spec.server.c_str());
    if (!addr) addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, spec.server.c_str());
    if (!addr) {
      ldns_resolver_deep_free(res);
      f.error = "server is not an address: " + spec.server;
      return f;
    }
    ldns_resolver_push_nameserver(res, addr);
    ldns_rdf_deep_free(addr);
    ldns_resolver_set_port(res, static_cast<uint16_t>(spec.port));
  }
  timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000), .tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ldns_resolver_set_timeout(res, tv);
  ldns_resolver_set_retry(res, 1);
  ldns_resolver_set_usevc(res, spec.tcp);
  ldns_resolver_set_dnssec(res, false);
  ldns_rdf* qname = ldns_dname_new_frm_str(spec.name.c_str());
  if (!qname) {
    ldns_resolver_deep_free(res);
    f.error = "not a domain name: " + spec.name;
    return f;
  }
  ldns_pkt* pkt = nullptr;
  ldns_status st = ldns_resolver_query_status(&pkt, res, qname, *type, LDNS_RR_CLASS_IN, LDNS_RD);
  f.elapsed = std::chrono::duration_cast<Duration>(Steady::now() - started);
  if (st != LDNS_STATUS_OK || !pkt) {
    f.error = fmt::format("no answer from {} within {} ms: {}", spec.server.empty() ? "the system resolver" : spec.server,
                          timeout.count(), ldns_get_errorstr_by_id(st));
  } else {
    ldns_lookup_table* rc = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(pkt));
    f.rcode = rc ? rc->name : fmt::format("RCODE{}", static_cast<int>(ldns_pkt_get_rcode(pkt)));
    ldns_rr_list* answers = ldns_pkt_answer(pkt);
    for (size_t i = 0; answers && i < ldns_rr_list_rr_count(answers); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(answers, i);
      if (ldns_rr_get_type(rr) != *type) continue;  // the CNAME chain before an A answer
      std::vector<std::string> fields;
      for (size_t k = 0; k < ldns_rr_rd_count(rr); ++k) fields.push_back(field_text(ldns_rr_rdf(rr, k)));
      f.answers.push_back(text::join(fields, " "));
    }
    ldns_pkt_free(pkt);
  }
  ldns_rdf_deep_free(qname);
  ldns_resolver_deep_free(res);
  return f;
}

Observation evaluate_dns(const std::string& probe, const DnsProbeSpec& spec, const DnsFacts& f, TimePoint at) {
  Observation obs{.signal = probe, .at = at, .latency = f.elapsed};
  std::string q = fmt::format("{} {}", spec.type, spec.name);
  if (f.error) {
    obs.outcome = Outcome::Error;
    obs.detail = fmt::format("{}: {}", q, *f.error);
    return obs;
  }
  std::vector<std::string> failures;
  std::string got = f.answers.empty() ? "no answers" : text::join(f.answers, ", ");
  if (f.rcode != spec.expect_rcode) failures.push_back(fmt::format("rcode {} (expected {})", f.rcode, spec.expect_rcode));
  for (const auto& want : spec.answers_contain)
    if (std::find(f.answers.begin(), f.answers.end(), want) == f.answers.end())
      failures.push_back(fmt::format("answers lack \"{}\"", want));
  if (spec.answers_equal) {
    std::set<std::string> a(f.answers.begin(), f.answers.end()), b(spec.answers_equal->begin(), spec.answers_equal->end());
    if (a != b) failures.push_back(fmt::format("answers are not exactly [{}]", text::join(*spec.answers_equal, ", ")));
  }
  if (spec.answers_regex) {
    for (const auto& ans : f.answers) {
      auto m = spec.answers_regex->search(ans);
      if (!m) {
        obs.outcome = Outcome::Error;
        obs.detail = m.error().message;
        return obs;
      }
      if (!*m) failures.push_back(fmt::format("answer \"{}\" does not match /{}/", ans, spec.answers_regex_text));
    }
    if (f.answers.empty()) failures.push_back(fmt::format("no answer to match /{}/", spec.answers_regex_text));
  }
  if (spec.min_answers && static_cast<int>(f.answers.size()) < *spec.min_answers)
    failures.push_back(fmt::format("{} answer(s) (min_answers {})", f.answers.size(), *spec.min_answers));
  if (spec.max_latency && f.elapsed > *spec.max_latency)
    failures.push_back(fmt::format("latency {} ms above max_latency {} ms", f.elapsed.count(), spec.max_latency->count()));
  if (failures.empty()) {
    obs.outcome = Outcome::Passed;
    obs.detail = fmt::format("{}: {} in {} ms: {}", q, f.rcode, f.elapsed.count(), text::excerpt(got, 200));
  } else {
    obs.outcome = Outcome::Failed;
    obs.detail = fmt::format("{}: {}", q, text::join(failures, "; "));
    obs.excerpt = fmt::format("{}: {}", f.rcode, text::excerpt(got, 400));
  }
  return obs;
}

std::unique_ptr<Probe> make_dns_probe(std::string name, Duration timeout, DnsProbeSpec spec) {
  return std::make_unique<DnsProbe>(std::move(name), timeout, std::move(spec));
}

}  // namespace dg
