#pragma once
#include "agent/core/observation.h"
#include "agent/core/process.h"
#include "probes/probe.h"

namespace dg {

/// Pure: judges one command run (or its failure to start) against the spec.
Observation evaluate_command(const ProbeSpec& spec, const Result<CommandResult>& result, TimePoint at);

std::unique_ptr<Probe> make_command_probe(const ProbeSpec& spec);

}  // namespace dg
