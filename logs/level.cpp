#include "logs/level.h"

#include <array>
#include <cctype>

namespace dg::logs {

std::optional<Level> parse_level(std::string_view w, bool letters) {
  // Brackets and a trailing colon are the header's punctuation, not the word.
  while (!w.empty() && (w.front() == '[' || w.front() == '<' || w.front() == '(')) w.remove_prefix(1);
  while (!w.empty() && (w.back() == ']' || w.back() == '>' || w.back() == ')' || w.back() == ':' || w.back() == ','))
    w.remove_suffix(1);
  if (w.empty() || w.size() > 9) return std::nullopt;
  std::array<char, 10> low{};
  for (size_t i = 0; i < w.size(); ++i) low[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(w[i])));
  std::string_view s(low.data(), w.size());
  if (s.size() == 1) {
    // Android's and glog's one-letter levels; upper case only (a lone "i"
    // or "a" is a word).
    if (!letters || !std::isupper(static_cast<unsigned char>(w[0]))) return std::nullopt;
    switch (s[0]) {
      case 'v': case 't': return Level::Trace;
      case 'd': return Level::Debug;
      case 'i': return Level::Info;
      case 'n': return Level::Notice;
      case 'w': return Level::Warning;
      case 'e': return Level::Error;
      case 'f': case 'c': return Level::Critical;
      default: return std::nullopt;
    }
  }
  struct Word {
    std::string_view w;
    Level l;
  };
  static constexpr Word kWords[] = {
      {"trace", Level::Trace},      {"verbose", Level::Trace},  {"finest", Level::Trace},  {"finer", Level::Trace},
      {"debug", Level::Debug},      {"dbg", Level::Debug},      {"fine", Level::Debug},    {"info", Level::Info},
      {"information", Level::Info}, {"inf", Level::Info},       {"notice", Level::Notice}, {"warn", Level::Warning},
      {"warning", Level::Warning},  {"wrn", Level::Warning},    {"error", Level::Error},   {"err", Level::Error},
      {"erro", Level::Error},       {"severe", Level::Error},   {"crit", Level::Critical}, {"critical", Level::Critical},
      {"fatal", Level::Critical},   {"alert", Level::Critical}, {"emerg", Level::Critical}, {"panic", Level::Critical},
      {"failure", Level::Error},
  };
  for (const auto& k : kWords)
    if (k.w == s) return k.l;
  return std::nullopt;
}

Level level_of_priority(int p) {
  if (p <= 2) return Level::Critical;  // emerg, alert, crit
  switch (p) {
    case 3: return Level::Error;
    case 4: return Level::Warning;
    case 5: return Level::Notice;
    case 6: return Level::Info;
    default: return Level::Debug;
  }
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Trace: return "trace";
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Notice: return "notice";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
    case Level::Critical: return "critical";
    default: return "unknown";
  }
}

}  // namespace dg::logs
