// The built-in probe types. Each registers its factory and config decoder in
// its own home; adding a type is one line here.
#include "probes/command_probe.h"
#include "probes/http_probe.h"
#include "probes/probe.h"
#include "probes/tcp_probe.h"

namespace dg {

void register_builtin_probes(ProbeRegistry& registry) {
  register_http_probe(registry);
  register_command_probe(registry);
  register_tcp_probe(registry);
}

const ProbeRegistry& builtin_probes() { return built_in_once(register_builtin_probes); }

}  // namespace dg
