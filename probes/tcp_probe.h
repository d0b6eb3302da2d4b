#pragma once
#include <string>
#include "probes/probe.h"

namespace dg {

struct TcpProbeSpec {
  std::string host;
  int port = 0;
};
std::unique_ptr<Probe> make_tcp_probe(const ProbeSpec& spec);
/// Registers the type with its config decoder.
void register_tcp_probe(ProbeRegistry& registry);

}  // namespace dg
