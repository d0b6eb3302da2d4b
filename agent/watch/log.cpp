#include "agent/watch/log.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <optional>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {
namespace {

// One JSON object per line, for log collectors: nothing to parse with a regex.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"" + text::rfc3339(std::chrono::time_point_cast<TimePoint::duration>(msg.time)) +
                       "\",\"level\":\"" + std::string(spdlog::level::to_string_view(msg.level).data(),
                                                      spdlog::level::to_string_view(msg.level).size()) +
                       "\",\"msg\":" + boost::json::serialize(boost::json::value(boost::json::string_view(msg.payload.data(), msg.payload.size()))) + "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

spdlog::level::level_enum to_spd(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

struct Log::Impl {
  std::shared_ptr<spdlog::logger> logger;
};

Log::Log(LogFormat format, LogLevel level) : impl_(std::make_unique<Impl>()) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  bool json = format == LogFormat::Json || (format == LogFormat::Auto && ::isatty(STDERR_FILENO) != 1);
  if (json) sink->set_formatter(std::make_unique<JsonFormatter>());
  else sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v"));
  impl_->logger = std::make_shared<spdlog::logger>("deployguard", sink);
  impl_->logger->set_level(to_spd(level));
  impl_->logger->flush_on(spdlog::level::debug);
}

Log::~Log() = default;

void Log::log(LogLevel level, const std::string& line) { impl_->logger->log(to_spd(level), secrets::redact(line)); }

void Log::event(const std::string& line) {
  LogLevel level = LogLevel::Info;
  if (line.starts_with("JOURNAL WRITE FAILED")) level = LogLevel::Error;
  else if (line.starts_with("TRIPPED") || line.starts_with("MITIGATION FAILED") || line.starts_with("WARNING") ||
           line.starts_with("reload rejected"))
    level = LogLevel::Warn;
  log(level, line);
}

void Log::status(const std::string& line) { log(LogLevel::Debug, line); }

std::optional<LogFormat> parse_log_format(const std::string& s) {
  if (s == "auto") return LogFormat::Auto;
  if (s == "human") return LogFormat::Human;
  if (s == "json") return LogFormat::Json;
  return std::nullopt;
}

std::optional<LogLevel> parse_log_level(const std::string& s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warn") return LogLevel::Warn;
  if (s == "error") return LogLevel::Error;
  return std::nullopt;
}

}  // namespace dg
