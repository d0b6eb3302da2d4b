// Grouping accuracy of the signature miner on the labelled Loghub 2k
// samples, read in place (default ../shared/loghub relative to the checkout;
// absent: says so and exits 0). Two settings per system: (a) the published
// Drain settings (header format, masks, st, depth) and (b) our defaults only,
// on the raw lines, one setting for every system. Prints a table beside the
// published Drain figures.
//   loghub_accuracy [DIR] [--only SYSTEM] [--ours]
//     (a): the published settings on our miner in Drain's own similarity and
//     routing, with only the published masks. --ours: (a) with our token
//     classes and our similarity added (the published st values were tuned
//     for Drain's measure, so this is not a fair (a), only a curiosity).
//     --dump / --diag / --st / --depth / --no CLASS: for reading mistakes and
//     showing how sensitive the defaults are; the defaults are not tuned here.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "logs/header.h"
#include "logs/miner.h"

namespace {

struct System {
  const char* name;
  const char* format;  // Loghub's log_format (regex syntax between the fields)
  std::vector<const char*> masks;
  double st;
  int depth;
  double published;
};

// The settings of the published Drain benchmark (logparser, Drain_benchmark.py).
const std::vector<System> kSystems = {
    {"HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>", {R"(blk_-?\d+)", R"((\d+\.){3}\d+(:\d+)?)"}, 0.5, 4, 0.9975},
    {"Hadoop", R"(<Date> <Time> <Level> \[<Process>\] <Component>: <Content>)", {R"((\d+\.){3}\d+)"}, 0.5, 4, 0.9475},
    {"Spark", "<Date> <Time> <Level> <Component>: <Content>", {R"((\d+\.){3}\d+)", R"(\b[KGTM]?B\b)", R"(([\w-]+\.){2,}[\w-]+)"}, 0.5, 4, 0.92},
    {"Zookeeper", R"(<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>)", {R"((/|)(\d+\.){3}\d+(:\d+)?)"}, 0.5, 4, 0.9665},
    {"BGL", "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>", {R"(core\.\d+)"}, 0.5, 4, 0.9625},
    {"HPC", "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>", {R"(=\d+)"}, 0.5, 4, 0.887},
    {"Thunderbird", R"(<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>)", {R"((\d+\.){3}\d+)"}, 0.5, 4, 0.955},
    {"Windows", "<Date> <Time>, <Level>                  <Component>    <Content>", {R"(0x.*?\s)"}, 0.7, 5, 0.997},
    {"Android", "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>", {R"((/[\w-]+)+)", R"(([\w-]+\.){2,}[\w-]+)", R"(\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b)"}, 0.2, 6, 0.911},
    {"HealthApp", R"(<Time>\|<Component>\|<Pid>\|<Content>)", {}, 0.2, 4, 0.78},
    {"Apache", R"(\[<Time>\] \[<Level>\] <Content>)", {R"((\d+\.){3}\d+)"}, 0.5, 4, 1.0},
    {"OpenSSH", R"(<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>)", {R"((\d+\.){3}\d+)", R"(([\w-]+\.){2,}[\w-]+)"}, 0.6, 5, 0.7875},
};

// Loghub's log_format to a Perl regex with our named groups, as logparser
// builds it: runs of spaces are \s+, fields are lazy groups, the content last.
std::string format_regex(const std::string& f) {
  std::string re = "^";
  size_t i = 0;
  while (i < f.size()) {
    if (f[i] == '<') {
      size_t e = f.find('>', i);
      std::string name = f.substr(i + 1, e - i - 1);
      if (name == "Content") re += "(?<message>.*)";
      else if (name == "Level") re += "(?<level>.*?)";
      else re += "(?:.*?)";
      i = e + 1;
    } else if (f[i] == ' ') {
      while (i < f.size() && f[i] == ' ') ++i;
      re += "\\s+";
    } else {
      re += f[i++];
    }
  }
  return re + "$";
}

std::vector<std::string> csv_row(const std::string& line) {
  std::vector<std::string> out(1);
  bool q = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (q) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') q = false;
      else out.back() += c;
    } else if (c == '"') q = true;
    else if (c == ',') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

double grouping_accuracy(const std::vector<std::string>& truth, const std::vector<uint64_t>& pred) {
  std::unordered_map<std::string, size_t> true_size;
  for (const auto& t : truth) ++true_size[t];
  std::unordered_map<uint64_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < pred.size(); ++i) groups[pred[i]].push_back(i);
  size_t correct = 0;
  for (const auto& [id, lines] : groups) {
    const std::string& e = truth[lines[0]];
    bool same = true;
    for (size_t i : lines) same &= truth[i] == e;
    if (same && true_size[e] == lines.size()) correct += lines.size();
  }
  return truth.empty() ? 0 : static_cast<double>(correct) / static_cast<double>(truth.size());
}

struct Sample {
  std::vector<std::string> lines, truth;
};

bool load(const std::filesystem::path& dir, const std::string& name, Sample& s) {
  std::ifstream raw(dir / name / (name + "_2k.log")), csv(dir / name / (name + "_2k.log_structured.csv"));
  if (!raw || !csv) return false;
  std::string line;
  while (std::getline(raw, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    s.lines.push_back(line);
  }
  std::getline(csv, line);
  auto head = csv_row(line);
  size_t col = 0;
  while (col < head.size() && head[col] != "EventId") ++col;
  while (std::getline(csv, line)) {
    auto row = csv_row(line);
    if (col < row.size()) s.truth.push_back(row[col]);
  }
  return s.lines.size() == s.truth.size();
}

double score(const Sample& s, const dg::logs::HeaderOptions& h, const dg::logs::MinerOptions& m) {
  auto header = dg::logs::HeaderParser::make(h);
  auto miner = dg::logs::Miner::make(m);
  if (!header || !miner) {
    std::fprintf(stderr, "bad settings: %s\n", (!header ? header.error() : miner.error()).message.c_str());
    return 0;
  }
  std::vector<uint64_t> pred;
  dg::logs::ParsedLine p;
  for (const auto& l : s.lines) {
    header->parse(l, p);
    pred.push_back(miner->add(p.message).id);
  }
  return grouping_accuracy(s.truth, pred);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = "../shared/loghub";
  std::string only;
  bool dump = false, diag = false, ours = false;
  dg::logs::MinerOptions defaults;  // (b); --st/--depth only to show how sensitive the defaults are
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--ours") ours = true;
    else if (a == "--dump") dump = true;
    else if (a == "--diag") diag = true;
    else if (a == "--no" && i + 1 < argc) {
      std::string c = argv[++i];
      auto& k = defaults.masks;
      (c == "urls" ? k.urls : c == "paths" ? k.paths : c == "uuids" ? k.uuids : c == "ips" ? k.ips : c == "hex" ? k.hex
       : c == "numbers" ? k.numbers : c == "mixed" ? k.mixed : c == "quoted" ? k.quoted : k.key_values) = false;
    } else if (a == "--st" && i + 1 < argc) defaults.similarity = std::atof(argv[++i]);
    else if (a == "--depth" && i + 1 < argc) defaults.depth = std::atoi(argv[++i]);
    else dir = a;
  }
  if (!std::filesystem::is_directory(dir)) {
    std::printf("loghub samples not found at %s: accuracy skipped\n", dir.string().c_str());
    return 0;
  }
  std::printf("%-12s %10s %12s %12s\n", "system", "Drain (pub)", "(a) pub.set", "(b) defaults");
  double sa = 0, sb = 0, sp = 0;
  int n = 0, a_below = 0;
  for (const auto& sys : kSystems) {
    if (!only.empty() && only != sys.name) continue;
    Sample s;
    if (!load(dir, sys.name, s)) {
      std::printf("%-12s missing or unreadable\n", sys.name);
      continue;
    }
    dg::logs::HeaderOptions ha;
    ha.format = "regex";
    ha.pattern = format_regex(sys.format);
    dg::logs::MinerOptions ma;
    ma.similarity = sys.st;
    ma.depth = sys.depth;
    ma.drain_compat = !ours;  // the published st values are for Drain's own measure
    for (const char* r : sys.masks) ma.masks.user.push_back({r, "<*>"});
    if (!ours) {
      // (a) as published: Drain's masks only, none of our token classes.
      auto& k = ma.masks;
      k.urls = k.paths = k.uuids = k.ips = k.hex = k.numbers = k.mixed = k.quoted = k.key_values = false;
    }
    if (dump) {
      // Per line: truth, signature, message, template (defaults): for reading a system's mistakes.
      auto header = dg::logs::HeaderParser::make({});
      auto miner = dg::logs::Miner::make(defaults);
      dg::logs::ParsedLine p;
      std::vector<uint64_t> ids;
      for (const auto& l : s.lines) {
        header->parse(l, p);
        ids.push_back(miner->add(p.message).id);
      }
      for (size_t i = 0; i < ids.size(); ++i)
        std::printf("%s\t%s\t%s\n", s.truth[i].c_str(), dg::logs::id_text(ids[i]).c_str(), miner->find(ids[i]) ? miner->find(ids[i])->text().c_str() : "?");
      continue;
    }
    if (diag) {
      auto auto_header = dg::logs::HeaderParser::make({});
      auto pub_header = dg::logs::HeaderParser::make(ha);
      dg::logs::ParsedLine p1, p2;
      int differ = 0;
      for (const auto& l : s.lines) {
        auto_header->parse(l, p1);
        pub_header->parse(l, p2);
        if (p1.message != p2.message && differ++ < 3)
          std::printf("  auto [%.*s]\n  pub  [%.*s]\n", (int)std::min<size_t>(p1.message.size(), 150), p1.message.data(),
                      (int)std::min<size_t>(p2.message.size(), 150), p2.message.data());
      }
      std::printf("  %d lines differ\n", differ);
      // Which part of the published settings makes the difference: their
      // header with our miner defaults, and our header with their st/depth.
      dg::logs::MinerOptions md = defaults;
      md.similarity = sys.st;
      md.depth = sys.depth;
      std::printf("%-12s pub.header+our.miner %.4f  our.header+pub.st/depth %.4f  our.header+pub.masks %.4f\n", sys.name,
                  score(s, ha, defaults), score(s, {}, md), [&] { auto m = defaults; m.masks.user = ma.masks.user; return score(s, {}, m); }());
      continue;
    }
    double a = score(s, ha, ma);
    double b = score(s, dg::logs::HeaderOptions{}, defaults);
    std::printf("%-12s %10.4f %12.4f %12.4f%s\n", sys.name, sys.published, a, b, a + 1e-9 < sys.published ? "  (a) below" : "");
    sa += a, sb += b, sp += sys.published;
    a_below += a + 1e-9 < sys.published;
    ++n;
  }
  if (n) std::printf("%-12s %10.4f %12.4f %12.4f   (a) below published on %d of %d\n", "mean", sp / n, sa / n, sb / n, a_below, n);
  return 0;
}
