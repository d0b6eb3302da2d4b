#include "logs/pipeline.h"

namespace dg::logs {

Result<LogPipeline> LogPipeline::make(const HeaderOptions& header, const MinerOptions& miner, Duration keep) {
  auto h = HeaderParser::make(header);
  if (!h) return std::unexpected(h.error());
  auto m = Miner::make(miner);
  if (!m) return std::unexpected(m.error());
  return LogPipeline(std::move(*h), std::move(*m), keep, miner.max_signatures);
}

Mined LogPipeline::ingest(const LogLine& line, TimePoint now, TimePoint wall) {
  header_.parse(line.text, parsed_, line.backlog);  // only history takes the header's time
  Mined m = miner_.add(parsed_.message);
  TimePoint at = line.at;
  if (line.backlog && parsed_.time) {
    auto mapped = now - std::chrono::duration_cast<TimePoint::duration>(wall - *parsed_.time);
    at = std::min(mapped, now);
  }
  Level level = parsed_.level != Level::Unknown ? parsed_.level : line.level.value_or(Level::Unknown);
  std::string_view text;
  std::string changed;
  if (m.created || m.generalised) {
    if (const Signature* s = miner_.find(m.id)) {
      changed = s->text();
      text = changed;
      if (text.empty()) text = "<empty>";
    }
  }
  tally_.add(at, m.id, level, text, line.text);
  ++lines_;
  return m;
}

Result<void> LogPipeline::restore(std::string_view state) {
  auto m = Miner::from_json(state, miner_.options());
  if (!m) return std::unexpected(m.error());
  miner_ = std::move(*m);
  return {};
}

}  // namespace dg::logs
