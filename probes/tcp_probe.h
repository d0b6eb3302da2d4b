#pragma once
#include "probes/probe.h"

namespace dg {
std::unique_ptr<Probe> make_tcp_probe(const ProbeSpec& spec);
}  // namespace dg
