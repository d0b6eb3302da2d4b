#pragma once
#include <string>
#include <utility>
#include <vector>
#include "agent/core/observation.h"
#include "agent/core/process.h"
#include "probes/probe.h"

namespace dg {

struct CommandProbeSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> pass_env;  ///< agent.child_env: agent variables the child may see
  std::string cwd;
  Duration kill_grace{3000};          ///< SIGTERM to SIGKILL on timeout
  int expect_exit = 0;
  std::vector<std::string> stdout_contains;
};

/// Pure: judges one command run (or its failure to start) against the spec.
Observation evaluate_command(const ProbeSpec& spec, const Result<CommandResult>& result, TimePoint at);

std::unique_ptr<Probe> make_command_probe(const ProbeSpec& spec);

/// Registers the type with its config decoder.
void register_command_probe(ProbeRegistry& registry);

}  // namespace dg
