#include "logs/header.h"

#include <array>
#include <cctype>
#include <charconv>
#include <span>
#include <chrono>

#include <boost/json.hpp>
#include <boost/regex.hpp>

namespace dg::logs {
namespace {

inline bool digit(char c) { return c >= '0' && c <= '9'; }
inline bool space(char c) { return c == ' ' || c == '\t'; }

bool read_int(std::string_view s, size_t& i, size_t n, int& v) {
  if (i + n > s.size()) return false;
  v = 0;
  for (size_t k = 0; k < n; ++k) {
    if (!digit(s[i + k])) return false;
    v = v * 10 + (s[i + k] - '0');
  }
  i += n;
  return true;
}

bool time_char(char c) {
  return digit(c) || c == ':' || c == '-' || c == '/' || c == '.' || c == ',' || c == 'T' || c == 'Z' || c == '+';
}

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

bool is_name_of(std::string_view t, std::span<const std::string_view> names) {
  if (t.size() < 3 || !(std::isupper(static_cast<unsigned char>(t[0])) || t[0] == '[' || t[0] == '(')) return false;
  while (!t.empty() && (t.front() == '[' || t.front() == '(')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ',' || t.back() == '.')) t.remove_suffix(1);
  if (t.size() < 3) return false;
  for (auto n : names)
    if (t.size() >= 3 && t.substr(0, 3) == n && (t.size() == 3 || std::isalpha(static_cast<unsigned char>(t[3]))))
      return t.size() <= 9;
  return false;
}

// A timestamp-ish token: digits and separators only, with a separator or
// enough digits to be a date or a time rather than a small count.
bool time_like(std::string_view t) {
  while (!t.empty() && (t.back() == ',' || t.back() == ']')) t.remove_suffix(1);
  if (t.empty()) return false;
  size_t digits = 0, seps = 0;
  for (char c : t) {
    if (!time_char(c)) return false;
    if (digit(c)) ++digits;
    else ++seps;
  }
  if (digits < 2) return false;
  return seps > 0 ? digits >= 4 : digits >= 6;
}

bool number(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t)
    if (!digit(c)) return false;
  return true;
}

// [ ... ] with nesting, at most 1024 bytes; npos if not closed.
size_t bracket_end(std::string_view s, size_t i) {
  int depth = 0;
  for (size_t j = i; j < s.size() && j - i < 1024; ++j) {
    if (s[j] == '[') ++depth;
    else if (s[j] == ']' && --depth == 0) return j;
  }
  return std::string_view::npos;
}

// `sshd[24200]:`, `crond(pam_unix)[2915]:`
bool is_tag(std::string_view t) {
  if (t.size() < 5 || !t.ends_with("]:")) return false;
  size_t open = t.rfind('[');
  if (open == std::string_view::npos || open == 0 || open + 3 > t.size()) return false;
  for (size_t i = open + 1; i + 2 < t.size(); ++i)
    if (!digit(t[i])) return false;
  for (size_t i = 0; i < open; ++i) {
    char c = t[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'))
      return false;
  }
  return true;
}

// `org.apache.hadoop.ipc.Client:`, `WindowManager:`, `dfs.DataNode$PacketResponder:`
bool is_logger(std::string_view t) {
  if (t.size() < 3 || t.back() != ':') return false;
  t.remove_suffix(1);
  if (!std::isalpha(static_cast<unsigned char>(t[0]))) return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '$' || c == '[' || c == ']'))
      return false;
  return !parse_level(t, false);
}

void parse_auto(std::string_view line, ParsedLine& out, bool want_time) {
  size_t i = 0, n = line.size();
  bool saw_time = false, saw_level = false;
  size_t time_from = std::string_view::npos, time_to = 0;
  size_t message_at = 0;
  for (int steps = 0; steps < 12; ++steps) {
    while (i < n && (space(line[i]) || line[i] == '|')) ++i;
    if (i >= n) break;
    if (line[i] == '[') {
      size_t e = bracket_end(line, i);
      if (e == std::string_view::npos) break;
      std::string_view inside = line.substr(i + 1, e - i - 1);
      if (auto l = parse_level(inside, false)) {
        out.level = *l;
        saw_level = true;
      } else {
        bool timeish = false;
        for (char c : inside) timeish |= c == ':';
        bool has_digit = false;
        for (char c : inside) has_digit |= digit(c);
        if (timeish && has_digit && !saw_time && inside.find('=') == std::string_view::npos) {
          saw_time = true;
        } else if (!(saw_time || saw_level)) {
          break;  // a bracket that starts a message
        }
      }
      i = e + 1;
      if (i < n && line[i] == ':') ++i;
      message_at = i;
      continue;
    }
    size_t e = i;
    while (e < n && !space(line[e]) && line[e] != '|') ++e;
    std::string_view t = line.substr(i, e - i);
    bool take = false;
    if (e < n && line[e] == '|' && !t.empty()) {
      take = true;  // a field of a '|'-separated header
    } else if (t == "-" || t == "--") {
      take = true;
    } else if (time_like(t)) {
      if (time_from == std::string_view::npos) time_from = i;
      time_to = e;
      saw_time = take = true;
    } else if (number(t) && (saw_time || i == 0)) {
      take = true;  // a process or thread id after the time
    } else if ((is_name_of(t, kMonths) || is_name_of(t, kDays)) && !saw_level) {
      // Only as part of a date: a number or a time follows.
      size_t k = e;
      while (k < n && space(line[k])) ++k;
      if (k < n && (digit(line[k]) || is_name_of(line.substr(k, 4), kMonths))) {
        if (time_from == std::string_view::npos) time_from = i;
        saw_time = take = true;
      }
    } else if (!saw_level) {
      if (auto l = parse_level(t, saw_time)) {
        out.level = *l;
        saw_level = take = true;
      }
    }
    if (!take) break;
    i = e;
    if (i < n && line[i] == ':' ) ++i;
    message_at = i;
  }
  std::string_view rest = line.substr(std::min(message_at, n));
  auto trim = [&] {
    while (!rest.empty() && (space(rest.front()) || rest.front() == '|')) rest.remove_prefix(1);
    if (rest.starts_with("- ")) rest.remove_prefix(2);
    while (!rest.empty() && space(rest.front())) rest.remove_prefix(1);
  };
  trim();
  // The syslog tag, `name[pid]:`, ends a header wherever it stands within
  // the first tokens (after a host, a second date, a facility).
  bool tagged = false;
  {
    size_t k = 0;
    for (int tok = 0; tok < 8 && k < rest.size(); ++tok) {
      size_t e = k;
      while (e < rest.size() && !space(rest[e])) ++e;
      if (is_tag(rest.substr(k, e - k))) {
        rest.remove_prefix(e);
        trim();
        tagged = true;
        break;
      }
      k = e;
      while (k < rest.size() && space(rest[k])) ++k;
    }
  }
  // After a time or a level, a `logger.Name:` token is the logger, not the message.
  if ((saw_time || saw_level) && !tagged) {
    size_t e = 0;
    while (e < rest.size() && !space(rest[e])) ++e;
    if (e < rest.size() && is_logger(rest.substr(0, e))) {
      rest.remove_prefix(e);
      trim();
    }
  }
  out.message = rest;
  if (want_time && time_from != std::string_view::npos && time_to > time_from)
    out.time = parse_log_time(line.substr(time_from, time_to - time_from));
}

struct Kv {
  std::string_view key, value;
  bool quoted = false;
};

// logfmt: key=value or key="quoted \"value\"" separated by spaces.
template <class F>
void each_logfmt(std::string_view s, F f) {
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && space(s[i])) ++i;
    size_t k = i;
    while (i < n && s[i] != '=' && !space(s[i])) ++i;
    std::string_view key = s.substr(k, i - k);
    if (i >= n || s[i] != '=') {
      if (!key.empty()) f(Kv{key, {}, false});
      continue;
    }
    ++i;
    if (i < n && s[i] == '"') {
      size_t v = ++i;
      while (i < n && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
      f(Kv{key, s.substr(v, std::min(i, n) - v), true});
      ++i;
    } else {
      size_t v = i;
      while (i < n && !space(s[i])) ++i;
      f(Kv{key, s.substr(v, i - v), false});
    }
  }
}

std::string unescape(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char c = v[++i];
      o += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      o += v[i];
    }
  }
  return o;
}

}  // namespace

std::optional<TimePoint> parse_log_time(std::string_view s) {
  using namespace std::chrono;
  while (!s.empty() && (s.back() == ',' || s.back() == ']' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == '[' || s.front() == ' ')) s.remove_prefix(1);
  if (number(s) && (s.size() == 10 || s.size() == 13)) {
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return s.size() == 10 ? TimePoint{seconds{v}} : TimePoint{milliseconds{v}};
  }
  size_t i = 0;
  int y, mo, d, h, mi, se;
  if (!read_int(s, i, 4, y) || i >= s.size() || s[i++] != '-' || !read_int(s, i, 2, mo) || i >= s.size() ||
      s[i++] != '-' || !read_int(s, i, 2, d))
    return std::nullopt;
  if (i >= s.size() || (s[i] != 'T' && s[i] != ' ' && s[i] != 't')) return std::nullopt;
  ++i;
  if (!read_int(s, i, 2, h) || i >= s.size() || s[i++] != ':' || !read_int(s, i, 2, mi) || i >= s.size() ||
      s[i++] != ':' || !read_int(s, i, 2, se))
    return std::nullopt;
  int64_t micros = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    int64_t scale = 100000;
    while (i < s.size() && digit(s[i])) {
      if (scale >= 1) micros += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int64_t offset_min = 0;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int sign = s[i++] == '-' ? -1 : 1, oh = 0, om = 0;
      if (!read_int(s, i, 2, oh)) return std::nullopt;
      if (i < s.size() && s[i] == ':') ++i;
      if (i < s.size() && !read_int(s, i, 2, om)) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
    }
  }
  if (i != s.size()) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  auto date = sys_days{year{y} / month{static_cast<unsigned>(mo)} / std::chrono::day{static_cast<unsigned>(d)}};
  auto t = date + hours{h} + minutes{mi} + seconds{se} + microseconds{micros} - minutes{offset_min};
  return time_point_cast<TimePoint::duration>(t);
}

const std::vector<std::string>& header_formats() {
  static const std::vector<std::string> k = {"auto", "none", "syslog", "iso8601-level", "logfmt", "json", "regex"};
  return k;
}

struct HeaderParser::Impl {
  HeaderOptions o;
  enum class Kind { Auto, None, Regex, Logfmt, Json } kind = Kind::Auto;
  boost::regex re;
  bool has_time = false, has_level = false, has_pri = false;
};

HeaderParser::HeaderParser() : impl_(std::make_shared<Impl>()) {}
const HeaderOptions& HeaderParser::options() const { return impl_->o; }

Result<HeaderParser> HeaderParser::make(HeaderOptions o) {
  auto impl = std::make_shared<Impl>();
  std::string pattern;
  if (o.format == "auto" || o.format.empty()) impl->kind = Impl::Kind::Auto;
  else if (o.format == "none") impl->kind = Impl::Kind::None;
  else if (o.format == "logfmt") impl->kind = Impl::Kind::Logfmt;
  else if (o.format == "json") impl->kind = Impl::Kind::Json;
  else if (o.format == "syslog")
    // RFC 5424 first (version digit after the priority), then RFC 3164.
    pattern = R"(^(?:<(?<pri>\d{1,3})>)?(?:\d (?<time>\S+) \S+ \S+ \S+ \S+ (?:-|(?:\[[^\]]*\])+) ?|(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ [^\s:\[]+(?:\[\d+\])?: ?)(?<message>.*)$)";
  else if (o.format == "iso8601-level")
    pattern = R"(^(?<time>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+\[?(?<level>[A-Za-z]+)\]?:?\s+(?<message>.*)$)";
  else if (o.format == "regex") {
    if (o.pattern.empty()) return fail("header format \"regex\" needs a pattern");
    pattern = o.pattern;
  } else
    return fail("unknown header format \"" + o.format + "\" (known: auto, none, syslog, iso8601-level, logfmt, json, regex)");
  if (!pattern.empty()) {
    impl->kind = Impl::Kind::Regex;
    try {
      impl->re = boost::regex(pattern, boost::regex::perl);
    } catch (const boost::regex_error& e) {
      return fail(std::string("header pattern: ") + e.what());
    }
    auto named = [&](const char* name) { return pattern.find(std::string("(?<") + name + ">") != std::string::npos; };
    if (!named("message")) return fail("header pattern needs a named group (?<message>...)");
    impl->has_time = named("time");
    impl->has_level = named("level");
    impl->has_pri = named("pri");
  }
  impl->o = std::move(o);
  HeaderParser p;
  p.impl_ = std::move(impl);
  return p;
}

void HeaderParser::parse(std::string_view line, ParsedLine& out, bool want_time) const {
  out.level = Level::Unknown;
  out.time.reset();
  out.owned.clear();
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  const Impl& m = *impl_;
  switch (m.kind) {
    case Impl::Kind::None:
      out.message = line;
      return;
    case Impl::Kind::Auto:
      parse_auto(line, out, want_time);
      return;
    case Impl::Kind::Regex: {
      boost::match_results<std::string_view::const_iterator> r;
      bool ok = false;
      try {
        ok = boost::regex_match(line.begin(), line.end(), r, m.re);
      } catch (const std::exception&) {
        ok = false;  // too complex for this line: parsed as auto
      }
      if (!ok) break;
      auto group = [&](const char* g) {
        const auto& sub = r[g];
        return sub.matched ? line.substr(static_cast<size_t>(sub.first - line.begin()), static_cast<size_t>(sub.length()))
                           : std::string_view{};
      };
      out.message = group("message");
      if (m.has_level) out.level = parse_level(group("level")).value_or(Level::Unknown);
      if (m.has_pri) {
        int pri = 0;
        auto g = group("pri");
        if (!g.empty() && std::from_chars(g.data(), g.data() + g.size(), pri).ec == std::errc{})
          out.level = level_of_priority(pri & 7);
      }
      if (m.has_time && want_time) out.time = parse_log_time(group("time"));
      return;
    }
    case Impl::Kind::Logfmt: {
      bool found = false;
      each_logfmt(line, [&](const Kv& kv) {
        if (kv.key == m.o.message_key) {
          found = true;
          if (kv.quoted) {
            out.owned = unescape(kv.value);
            out.message = out.owned;
          } else {
            out.message = kv.value;
          }
        } else if (kv.key == m.o.level_key) {
          out.level = parse_level(kv.value).value_or(Level::Unknown);
        } else if (kv.key == m.o.time_key) {
          out.time = parse_log_time(kv.value);
        }
      });
      if (found) return;
      break;
    }
    case Impl::Kind::Json: {
      if (line.empty() || line.front() != '{') break;
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(line, ec);
      auto* o = ec ? nullptr : v.if_object();
      if (!o) break;
      auto str = [&](const std::string& k) -> const boost::json::string* {
        auto* x = o->if_contains(k);
        return x ? x->if_string() : nullptr;
      };
      auto* msg = str(m.o.message_key);
      if (!msg && m.o.message_key == "msg") msg = str("message");
      if (!msg) break;
      out.owned.assign(msg->data(), msg->size());
      out.message = out.owned;
      if (auto* l = str(m.o.level_key)) out.level = parse_level(*l).value_or(Level::Unknown);
      if (auto* x = o->if_contains(m.o.time_key)) {
        if (auto* t = x->if_string()) out.time = parse_log_time(*t);
        else if (x->is_number()) {
          double s = x->to_number<double>();
          // Seconds or milliseconds since the epoch, by magnitude.
          if (s > 1e11) s /= 1000;
          out.time = TimePoint{std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(s))};
        }
      }
      return;
    }
  }
  parse_auto(line, out, want_time);
}

}  // namespace dg::logs
