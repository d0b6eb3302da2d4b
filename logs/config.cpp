#include "logs/config.h"

#include <fmt/format.h>

#include "agent/config/command_keys.h"
#include "agent/config/reader.h"

namespace dg::logs {
namespace {

std::optional<Level> read_level(ConfigReader& r, std::string_view key) {
  auto v = r.str(key);
  if (!v) return std::nullopt;
  auto l = parse_level(*v, false);
  if (!l) r.error(key, fmt::format("unknown level '{}' (known: trace, debug, info, notice, warning, error, critical)", *v));
  return l;
}

}  // namespace

std::vector<std::string> log_source_types() { return {"command", "file", "journald"}; }

void decode_log_source(ConfigReader& r, const std::string& name, LogSourceSpec& spec) {
  spec.name = name;
  auto type = read_type(r, log_source_types(), "log source");
  if (!type) return;
  spec.type = *type;
  if (*type == "file") {
    FileSourceSpec f;
    if (auto v = r.strings("paths", true)) {
      for (auto& p : *v) f.paths.push_back(p.find_first_of("*?[") == std::string::npos ? r.absolute(p) : (p.front() == '/' ? p : r.dir() + "/" + p));
    }
    if (auto v = r.integer("backfill_bytes", 0, 1ll << 34)) f.backfill_bytes = static_cast<size_t>(*v);
    spec.kind = std::move(f);
  } else if (*type == "journald") {
    JournaldSourceSpec j;
    if (auto v = r.path("directory")) j.directory = *v;
    if (auto v = r.strings("units")) j.units = *v;
    if (auto v = r.strings("matches")) {
      for (const auto& m : *v)
        if (m.find('=') == std::string::npos || m.front() == '=') r.error("matches", fmt::format("'{}' is not FIELD=value", m));
      j.matches = *v;
    }
    spec.kind = std::move(j);
  } else {
    CommandSourceSpec c;
    if (auto v = r.strings("command", true, false)) c.command.argv = *v;
    if (auto v = r.strings("pass_env")) c.command.pass_env = *v;
    if (auto v = r.duration("restart_min")) c.restart_min = *v;
    if (auto v = r.duration("restart_max")) c.restart_max = *v;
    if (c.restart_max < c.restart_min) r.error("restart_max", "must be at least restart_min");
    spec.kind = std::move(c);
  }
  if (auto v = r.str("header")) {
    const auto& known = header_formats();
    if (std::find(known.begin(), known.end(), *v) != known.end() && *v != "regex") spec.header.format = *v;
    else spec.header.format = "regex", spec.header.pattern = *v;
  }
  if (auto v = r.str("message_key")) spec.header.message_key = *v;
  if (auto v = r.str("level_key")) spec.header.level_key = *v;
  if (auto v = r.str("time_key")) spec.header.time_key = *v;
  if (auto h = HeaderParser::make(spec.header); !h) r.error("header", h.error().message);
  if (auto v = r.strings("masks"))
    for (const auto& m : *v) spec.miner.masks.user.push_back({m, "<*>"});
  if (auto v = r.number("similarity")) {
    if (*v < 0 || *v > 1) r.error("similarity", "expected a number from 0 to 1");
    else spec.miner.similarity = *v;
  }
  if (auto v = r.integer("depth", 3, 16)) spec.miner.depth = static_cast<int>(*v);
  if (auto v = r.integer("max_signatures", 1, 1'000'000)) spec.miner.max_signatures = static_cast<size_t>(*v);
  if (auto v = r.integer("max_tokens", 2, 4096)) spec.miner.max_tokens = static_cast<size_t>(*v);
  if (auto v = r.integer("max_line_bytes", 64, 1 << 20)) spec.max_line_bytes = spec.miner.max_line_bytes = static_cast<size_t>(*v);
  if (auto m = Miner::make(spec.miner); !m) r.error("masks", m.error().message);
}

void decode_log_condition(ConfigReader& r, const std::string& policy, size_t index, MetricCondition& c) {
  LogConditionSpec s;
  std::string label = std::to_string(index);
  if (auto v = r.str("name")) label = *v;
  c.id = policy + "/" + label;
  if (auto v = r.str("source", true, "the name of a log source")) {
    s.source = *v;
    r.reference(r.raw().get("source"), "log source", *v, r.key_path("source"));
  }
  if (auto i = r.choice("condition", {"new_signature", "surge", "error_share"})) s.kind = std::vector<std::string>{"new_signature", "surge", "error_share"}[*i];
  else if (!r.has("condition")) r.missing("condition", "new_signature, surge or error_share");
  if (auto v = r.duration("baseline")) s.windows.baseline = *v;
  if (auto v = r.duration("window")) s.windows.window = *v;
  if (auto v = r.duration("step")) s.windows.step = *v;
  if (auto v = r.duration("interval")) c.interval = *v;
  else c.interval = s.windows.step;
  auto alpha = r.number("alpha");
  if (alpha && !(*alpha > 0 && *alpha < 1)) r.error("alpha", "expected a number between 0 and 1");
  auto min_ratio = r.number("min_ratio");
  if (min_ratio && *min_ratio < 1) r.error("min_ratio", "expected a number of at least 1");
  auto level = read_level(r, "level");
  if (s.kind == "new_signature") {
    if (level) s.fresh.level = *level;
    if (auto v = r.str("pattern")) {
      auto re = Regex::compile(*v);
      if (!re) r.error("pattern", re.error().message);
      else s.fresh.pattern = *re;
      if (!level) s.fresh.level = Level::Unknown;  // the pattern alone decides
    }
    if (auto v = r.integer("min_count", 1, 1'000'000)) s.fresh.min_count = static_cast<int>(*v);
  } else if (s.kind == "surge") {
    if (alpha) s.surge.alpha = *alpha;
    if (min_ratio) s.surge.min_ratio = *min_ratio;
    if (level) s.surge.level = *level;
    if (auto v = r.integer("max_signatures", 1, 100'000)) s.surge.max_signatures = static_cast<size_t>(*v);
  } else if (s.kind == "error_share") {
    if (alpha) s.share.alpha = *alpha;
    if (min_ratio) s.share.min_ratio = *min_ratio;
    if (level) s.share.level = *level;
  }
  // The policy's machinery sees a condition that trips when the judgement
  // does (a reading of 1), read every `interval` from the signal source.
  c.source = std::string(kLogSignalPrefix) + s.source;
  c.kind = MetricCondition::Kind::Threshold;
  c.above = 0.5;
  c.query.promql = fmt::format("{} in log source {} ({})", s.kind, s.source, c.id);
  c.on_no_data = OnNoData::Ignore;  // a quiet log is not a failure; a source that cannot be read is an error
  c.log = std::move(s);
}

}  // namespace dg::logs
