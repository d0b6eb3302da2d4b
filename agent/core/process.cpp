// What a child process is given and how its end is described; the launcher
// itself (run_command, start_command) is in async_process.cpp.
#include "agent/core/process.h"

#include <fmt/format.h>

#include <map>

#include "agent/core/duration.h"

extern char** environ;

namespace dg {

bool env_name_allowed(std::string_view name, const std::vector<std::string>& allow) {
  static const std::vector<std::string> defaults{"PATH", "HOME", "LANG", "LC_*", "TZ", "USER"};
  for (const auto* list : {&defaults, &allow})
    for (const auto& a : *list) {
      if (a.ends_with('*') ? name.starts_with(std::string_view(a).substr(0, a.size() - 1)) : name == a) return true;
    }
  return false;
}

std::string timeout_detail(Duration timeout, Duration grace, const CommandResult& r) {
  if (r.killed_after_grace)
    return fmt::format("timeout after {} ms; process group sent SIGTERM, then SIGKILL after {} grace", timeout.count(),
                       format_duration(grace));
  return fmt::format("timeout after {} ms; process group sent SIGTERM and ended within the {} grace", timeout.count(),
                     format_duration(grace));
}

std::vector<std::string> child_environment(const CommandSpec& spec) {
  std::map<std::string, std::string> env_map;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    if (env_name_allowed(kv.substr(0, eq), spec.pass_env)) env_map[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  // The child's own PATH, for what it starts in turn (the program itself is
  // looked up in the agent's PATH, as execvpe does).
  env_map.try_emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
  for (const auto& [k, v] : spec.env) env_map[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env_map) out.push_back(k + "=" + v);
  return out;
}

}  // namespace dg
