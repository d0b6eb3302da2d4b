#pragma once
/// The watcher's log, through spdlog: human lines on a terminal, JSON lines
/// otherwise (one object per line: time, level, message), and never a
/// secret (every line goes through secrets::redact first).
#include <memory>
#include <optional>
#include <string>

#include "agent/engine/engine.h"

namespace dg {

enum class LogFormat { Auto, Human, Json };
enum class LogLevel { Debug, Info, Warn, Error };

/// A Progress that logs. The engine's event lines are info, except trips,
/// failures and warnings (warn) and journal failures (error); status lines
/// are debug.
class Log final : public Progress {
 public:
  Log(LogFormat format, LogLevel level);
  ~Log() override;
  void event(const std::string& line) override;
  void status(const std::string& line) override;
  void log(LogLevel level, const std::string& line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "human" | "json" | "auto"; "debug" | "info" | "warn" | "error".
std::optional<LogFormat> parse_log_format(const std::string& s);
std::optional<LogLevel> parse_log_level(const std::string& s);

}  // namespace dg
