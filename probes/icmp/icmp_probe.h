#pragma once
/// The `icmp` probe: echo requests to an IPv4 host, judged on loss and
/// round-trip time. It uses an unprivileged ping socket where the system
/// allows one (net.ipv4.ping_group_range holds the agent's group), else a
/// raw socket when the process may open one (root or CAP_NET_RAW, as
/// blackbox_exporter does), else an error that says how to allow either.
#include <optional>
#include <string>

#include "agent/core/observation.h"
#include "probes/probe.h"

namespace dg {

struct IcmpProbeSpec {
  std::string host;
  int count = 3;
  Duration interval{200};
  double max_loss_percent = 0;
  std::optional<Duration> max_rtt;  ///< the slowest reply
  std::string socket = "auto";       ///< "auto" | "dgram" | "raw"
};

struct IcmpFacts {
  std::optional<std::string> error;  ///< could not send at all
  std::string socket_kind;           ///< "dgram" | "raw"
  int sent = 0;
  int received = 0;
  std::optional<Duration> rtt_max;
  std::chrono::microseconds rtt_avg{0};
};

Observation evaluate_icmp(const std::string& probe, const IcmpProbeSpec& spec, const IcmpFacts& facts, TimePoint at);
IcmpFacts icmp_ping(const IcmpProbeSpec& spec, Duration timeout);

std::unique_ptr<Probe> make_icmp_probe(std::string name, Duration timeout, IcmpProbeSpec spec);
/// Registers the `icmp` type with its config decoder (icmp_config.cpp).
void register_icmp_probe(ProbeRegistry& registry);

}  // namespace dg
