#pragma once
/// file sink: every event appended as one JSON line and fsync'd (the default
/// when no sink is configured).
#include <string>

#include "agent/incidents/incident.h"

namespace dg {

struct FileSinkSpec {
  std::string path;
};

/// Registers the type with its config decoder.
void register_file_sink(IncidentSinkRegistry& registry);

}  // namespace dg
