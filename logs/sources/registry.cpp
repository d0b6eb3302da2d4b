#include <fmt/format.h>

#include "logs/log_source.h"
#include "logs/sources/command_source.h"
#include "logs/sources/file_source.h"
#include "logs/sources/journald_source.h"

namespace dg::logs {

void LogSourceRegistry::add(std::string type, Factory f) { factories_.emplace_back(std::move(type), std::move(f)); }

Result<std::unique_ptr<LogSource>> LogSourceRegistry::make(const LogSourceSpec& spec, const Clock& clock) const {
  for (const auto& [type, f] : factories_)
    if (type == spec.type) return f(spec, clock);
  return fail(fmt::format("unknown log source type \"{}\" (known: {})", spec.type, fmt::join(types(), ", ")));
}

std::vector<std::string> LogSourceRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& [type, f] : factories_) out.push_back(type);
  return out;
}

void register_builtin_log_sources(LogSourceRegistry& r) {
  r.add("command", make_command_source);
  r.add("file", make_file_source);
  r.add("journald", make_journald_source);
}

}  // namespace dg::logs
