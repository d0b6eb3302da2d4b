#include "logs/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <thread>
#include <unordered_map>

#include <boost/json.hpp>

#include "agent/core/secrets.h"
#include "logs/line_splitter.h"
#include "logs/pipeline.h"

namespace dg::logs {

HeaderOptions header_from_flag(const std::string& value) {
  HeaderOptions h;
  const auto& known = header_formats();
  if (std::find(known.begin(), known.end(), value) != known.end() && value != "regex") {
    h.format = value;
  } else {
    h.format = "regex";
    h.pattern = value;
  }
  return h;
}

int run_logs_mine(const MineArgs& a, std::ostream& out, std::ostream& err) {
  auto header = HeaderParser::make(a.header);
  if (!header) {
    err << "deployguard logs mine: " << header.error().message << "\n";
    return 2;
  }
  auto miner = Miner::make(a.miner);
  if (!miner) {
    err << "deployguard logs mine: " << miner.error().message << "\n";
    return 2;
  }
  std::vector<std::string> files = a.files.empty() ? std::vector<std::string>{"-"} : a.files;
  ParsedLine p;
  uint64_t n = 0;
  std::string line;
  for (const auto& f : files) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (f != "-") {
      file.open(f, std::ios::binary);
      if (!file) {
        err << "deployguard logs mine: cannot read " << f << "\n";
        return 2;
      }
      in = &file;
    }
    while (std::getline(*in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string clean = sanitize_utf8(line.size() > a.miner.max_line_bytes * 2 ? line.substr(0, a.miner.max_line_bytes * 2) : line);
      header->parse(clean, p);
      Mined m = miner->add(p.message);
      const Signature* s = miner->find(m.id);
      std::string text = s ? s->text() : "";
      if (a.json) {
        boost::json::object o{{"line", n}, {"id", id_text(m.id)}, {"template", text}, {"level", level_name(p.level)}};
        out << boost::json::serialize(o) << "\n";
      } else {
        out << id_text(m.id) << '\t' << text << '\n';
      }
    }
  }
  return 0;
}

int run_logs_top(const TopArgs& a, const Clock& clock, std::ostream& out, std::ostream& err) {
  LogSourceRegistry registry;
  register_builtin_log_sources(registry);
  auto source = registry.make(a.source, clock);
  if (!source) {
    err << "deployguard logs top: " << a.source.name << ": " << source.error().message << "\n";
    return 2;
  }
  auto pipeline = LogPipeline::make(a.source.header, a.source.miner, a.since * 2 + std::chrono::minutes(1));
  if (!pipeline) {
    err << "deployguard logs top: " << a.source.name << ": " << pipeline.error().message << "\n";
    return 2;
  }
  TimePoint start = clock.now();
  if (auto r = (*source)->open(start - a.since * 2); !r) {
    err << "deployguard logs top: " << a.source.name << ": " << r.error().message << "\n";
    return 2;
  }
  // Read until the source has been quiet for a moment (a file's history, a
  // journal's entries since the window's start), at most read_for.
  std::vector<LogLine> lines;
  TimePoint quiet_since = clock.now();
  while (clock.now() - start < a.read_for * 4) {
    lines.clear();
    auto got = (*source)->poll(lines, 10'000);
    if (!got) {
      err << "deployguard logs top: " << a.source.name << ": " << got.error().message << "\n";
      return 2;
    }
    for (const auto& l : lines) pipeline->ingest(l, clock.now(), clock.wall());
    if (!lines.empty()) quiet_since = clock.now();
    else if (clock.now() - quiet_since >= std::min<Duration>(a.read_for, std::chrono::milliseconds(300))) break;
    if (lines.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  TimePoint now = clock.now();
  auto secs = [](TimePoint t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); };
  int64_t recent_from = secs(now - a.since), before_from = secs(now - a.since * 2);
  std::unordered_map<SignatureId, std::pair<double, double>> counts;  // before, recent
  double total_before = 0, total_recent = 0;
  for (const auto& b : pipeline->tally().seconds()) {
    if (b.second < before_from) continue;
    bool recent = b.second >= recent_from;
    (recent ? total_recent : total_before) += b.total;
    for (auto [id, n] : b.signatures) (recent ? counts[id].second : counts[id].first) += n;
  }
  std::vector<std::pair<SignatureId, std::pair<double, double>>> rows(counts.begin(), counts.end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.second > y.second.second || (x.second.second == y.second.second && x.second.first > y.second.first); });
  double secs_since = std::chrono::duration<double>(a.since).count();
  std::string span = secs_since < 120 ? fmt::format("{:.0f} s", secs_since) : fmt::format("{:.0f} min", secs_since / 60);
  out << fmt::format("{}: {} lines in the last {}, {} in the {} before; {} signatures ({} lines in evicted ones)\n",
                     a.source.name, total_recent, span, total_before, span, pipeline->miner().size(), pipeline->miner().other_count());
  out << fmt::format("{:>8} {:>8} {:>8}  {:<8} {:<16}  {}\n", "recent", "before", "change", "level", "signature", "template");
  size_t shown = 0;
  for (const auto& [id, c] : rows) {
    if (shown++ >= a.limit) break;
    const SignatureInfo* i = pipeline->tally().info(id);
    auto [before, recent] = c;
    std::string change;
    double sb = total_before > 0 ? before / total_before : 0, sr = total_recent > 0 ? recent / total_recent : 0;
    if (before == 0) change = "new";
    else if (recent == 0) change = "gone";
    else change = fmt::format("{:.1f}x", sr / sb);
    out << fmt::format("{:>8} {:>8} {:>8}  {:<8} {:<16}  {}\n", recent, before, change, i ? level_name(i->level) : "",
                       id_text(id), secrets::redact(i ? i->text : ""));
  }
  return 0;
}

}  // namespace dg::logs
