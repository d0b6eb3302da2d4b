#pragma once
/// The keys of a command run by the agent (a command probe, a command
/// rollback, a command log source): argv, env, cwd, kill_grace, and the agent
/// variables it may see (agent.child_env), decoded once for every type.
#include "agent/config/reader.h"

namespace dg {

template <class Spec>
void decode_command_keys(ConfigReader& r, Spec& c) {
  if (auto v = r.strings("argv", true, false)) {
    if (v->empty()) r.error("argv", "empty argv: name the program to run");
    c.argv = *v;
  }
  c.env = r.string_map("env", false);
  if (auto v = r.path("cwd")) c.cwd = *v;
  else c.cwd = r.dir();
  if (auto v = r.duration("kill_grace")) c.kill_grace = *v;
  c.pass_env = r.context().child_env;  // the agent's variables only through the allow-list
}

}  // namespace dg
