#include "probes/command_probe.h"
#include "probes/http_probe.h"
#include "probes/probe.h"
#include "probes/tcp_probe.h"

namespace dg {

void register_builtin_probes(ProbeRegistry& registry) {
  auto wrap = [](auto make) {
    return [make](const ProbeSpec& spec) -> Result<std::unique_ptr<Probe>> { return make(spec); };
  };
  registry.add("http", wrap(make_http_probe));
  registry.add("command", wrap(make_command_probe));
  registry.add("tcp", wrap(make_tcp_probe));
}

}  // namespace dg
