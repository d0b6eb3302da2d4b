// Exposition parser: one pass over the input, line by line. Text 0.0.4 follows
// the format document as promtool reads it (classic names, final newline
// required); OpenMetrics follows its ABNF (single spaces, no blank lines,
// metadata before samples, `# EOF`, exemplars, suffix rules per type).
#include "probes/metrics/exposition.h"
#include "probes/metrics/exposition_number.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dg {

std::string ExpositionError::str() const { return fmt::format("{}:{}: {}", line, column, message); }

ExpositionFormat format_from_content_type(std::string_view ct) {
  return ct.find("application/openmetrics-text") != std::string_view::npos ? ExpositionFormat::OpenMetrics
                                                                             : ExpositionFormat::Text004;
}

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_label_char(char c) { return is_label_start(c) || (c >= '0' && c <= '9'); }

// Validates UTF-8 (no overlongs, no surrogates); NUL is valid.
bool valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? (c <= 0xEF ? 3 : 0) : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (len == 0 || i + len > n) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
      return false;
    i += len;
  }
  return true;
}

// Decimal floats only: no hex, no underscores, no "0x"/"0b" forms.
std::optional<double> parse_number(std::string_view s, bool openmetrics) {
  if (s.empty()) return std::nullopt;
  auto special = [&](std::string_view t) -> std::optional<double> {
    std::string_view body = t;
    bool neg = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
      neg = body[0] == '-';
      body.remove_prefix(1);
    }
    auto eq = [](std::string_view a, std::string_view b) {
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == y;
             });
    };
    if (eq(body, "nan") && body.size() == t.size()) return std::nan("");
    if (eq(body, "inf") || eq(body, "infinity"))
      return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return std::nullopt;
  };
  char c0 = s[0];
  if ((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') ||
      ((c0 == '+' || c0 == '-') && s.size() > 1 && std::isalpha(static_cast<unsigned char>(s[1])))) {
    if (openmetrics) {
      if (s == "NaN") return std::nan("");
      if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
      if (s == "-Inf") return -std::numeric_limits<double>::infinity();
      return std::nullopt;
    }
    return special(s);
  }
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return std::nullopt;
  std::string_view body = s;
  if (body[0] == '+') body.remove_prefix(1);
  if (body.empty() || body[0] == '+' || body[0] == '-' ? (body.size() < 2) : false) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Go's ParseFloat returns ±Inf or 0 for out-of-range values; so do we.
    bool neg = body[0] == '-';
    auto e = body.find_first_of("eE");
    bool tiny = e != std::string_view::npos && e + 1 < body.size() && body[e + 1] == '-';
    return tiny ? (neg ? -0.0 : 0.0) : (neg ? -HUGE_VAL : HUGE_VAL);
  }
  if (ec != std::errc{} || p != body.data() + body.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_int64(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

struct Family {
  uint64_t epoch = 0;  // the parse that last touched it; older state is stale
  std::string type;    // empty: no TYPE line
  bool help = false, unit = false, samples = false;
};

struct Failure {
  size_t column;
  std::string message;
};

}  // namespace

// Parser state lives across parses: names seen before are looked up, not
// allocated again, so scraping the same target repeatedly allocates nothing.
class ExpositionParser::Impl {
 public:
  std::expected<ExpositionStats, ExpositionError> parse(std::string_view in, ExpositionFormat fmt, ExpositionVisitor& v) {
    in_ = in;
    om_ = fmt == ExpositionFormat::OpenMetrics;
    visitor_ = &v;
    ++epoch_;
    stats_ = {};
    current_.clear();
    done_series_.clear();
    series_.any = false;
    cache_valid_ = false;
    return run();
  }

 private:
  std::expected<ExpositionStats, ExpositionError> run() {
    size_t pos = 0;
    int line_no = 0;
    bool eof_seen = false;
    while (pos < in_.size()) {
      ++line_no;
      size_t nl = in_.find('\n', pos);
      bool terminated = nl != std::string_view::npos;
      std::string_view line = in_.substr(pos, terminated ? nl - pos : std::string_view::npos);
      size_t next = terminated ? nl + 1 : in_.size();
      if (eof_seen) return err(line_no, 1, "content after # EOF");
      if (om_ && line == "# EOF") {
        eof_seen = true;
        pos = next;
        if (terminated && next < in_.size()) return err(line_no + 1, 1, "content after # EOF");
        break;
      }
      if (!terminated) return err(line_no, static_cast<int>(line.size() + 1), "the last line must end with a newline");
      line_ = line;
      if (auto f = parse_line(); f) return err(line_no, static_cast<int>(f->column + 1), f->message);
      ++stats_.lines;
      pos = next;
    }
    if (om_ && !eof_seen) return err(line_no + 1, 1, "OpenMetrics exposition must end with # EOF");
    if (om_) {
      if (auto f = close_family(); f) return err(line_no, 1, f->message);
    }
    return stats_;
  }

 private:
  std::unexpected<ExpositionError> err(int line, int col, std::string msg) {
    return std::unexpected(ExpositionError{line, col, std::move(msg)});
  }

  bool ws(char c) const { return c == ' ' || (!om_ && c == '\t'); }
  size_t skip_ws(size_t i) const {
    while (i < line_.size() && ws(line_[i])) ++i;
    return i;
  }

  std::optional<Failure> parse_line() {
    size_t i = om_ ? 0 : skip_ws(0);
    if (i == line_.size()) {
      if (om_) return Failure{0, "empty line (not allowed in OpenMetrics)"};
      return std::nullopt;
    }
    if (line_[i] == '#') return parse_comment(i);
    return parse_sample(i);
  }

  size_t read_name(size_t i) const {
    if (i >= line_.size() || !is_name_start(line_[i])) return i;
    while (i < line_.size() && is_name_char(line_[i])) ++i;
    return i;
  }

  Family& family(std::string_view name) {
    auto it = families_.find(name);
    if (it == families_.end()) it = families_.emplace(std::string(name), Family{}).first;
    if (it->second.epoch != epoch_) {
      it->second = Family{.epoch = epoch_};
      ++stats_.families;
    }
    return it->second;
  }
  const Family* current_family(std::string_view name) const {
    auto it = families_.find(name);
    return it != families_.end() && it->second.epoch == epoch_ ? &it->second : nullptr;
  }
  bool seen(std::string_view name) const {
    auto it = seen_names_.find(name);
    return it != seen_names_.end() && it->second == epoch_;
  }
  void mark_seen(std::string_view name) {
    auto it = seen_names_.find(name);
    if (it == seen_names_.end()) seen_names_.emplace(std::string(name), epoch_);
    else it->second = epoch_;
  }

  std::optional<Failure> parse_comment(size_t i) {
    size_t start = i;
    cache_valid_ = false;  // a TYPE line may change how names resolve
    ++i;  // '#'
    if (om_) {
      if (i >= line_.size() || line_[i] != ' ') return Failure{start, "expected '# HELP', '# TYPE', '# UNIT' or '# EOF'"};
      ++i;
    } else {
      i = skip_ws(i);
    }
    size_t kw_end = i;
    while (kw_end < line_.size() && !ws(line_[kw_end])) ++kw_end;
    std::string_view kw = line_.substr(i, kw_end - i);
    bool is_meta = kw == "HELP" || kw == "TYPE" || (om_ && kw == "UNIT");
    if (!is_meta) {
      if (om_) return Failure{i, fmt::format("unknown comment '{}' (OpenMetrics allows only HELP, TYPE, UNIT and EOF)", kw)};
      return std::nullopt;  // a plain comment
    }
    if (kw_end >= line_.size()) {
      if (om_) return Failure{kw_end, fmt::format("{} needs a metric name", kw)};
      return std::nullopt;  // "# HELP" alone is a comment in 0.0.4
    }
    i = om_ ? kw_end + 1 : skip_ws(kw_end);
    size_t name_end = read_name(i);
    if (name_end == i) return Failure{i, fmt::format("invalid metric name in {} line", kw)};
    std::string_view name = line_.substr(i, name_end - i);
    i = name_end;
    if (i < line_.size() && !ws(line_[i])) return Failure{i, fmt::format("invalid character in metric name in {} line", kw)};
    if (om_) {
      if (auto f = switch_family(name, start); f) return f;
    }
    Family& fam = family(name);
    if (kw == "TYPE") {
      i = om_ ? (i < line_.size() ? i + 1 : i) : skip_ws(i);
      size_t t_end = i;
      while (t_end < line_.size() && !ws(line_[t_end])) ++t_end;
      std::string_view type = line_.substr(i, t_end - i);
      static const std::string_view text_types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
      static const std::string_view om_types[] = {"counter", "gauge", "histogram", "gaugehistogram",
                                                  "summary", "info", "stateset", "unknown"};
      bool known = om_ ? std::find(std::begin(om_types), std::end(om_types), type) != std::end(om_types)
                       : std::find(std::begin(text_types), std::end(text_types), type) != std::end(text_types);
      if (!known) return Failure{i, fmt::format("unknown metric type '{}'", type)};
      size_t rest = om_ ? t_end : skip_ws(t_end);
      if (rest != line_.size()) return Failure{rest, "unexpected text after the metric type"};
      if (!fam.type.empty()) return Failure{start, fmt::format("second TYPE line for {}", name)};
      if (fam.samples || sample_seen(name, type))
        return Failure{start, fmt::format("TYPE line for {} after its samples", name)};
      if (om_ && fam.unit && (type == "info" || type == "stateset"))
        return Failure{start, fmt::format("{} metrics cannot have a unit", type)};
      if (om_) {
        if (auto f = clash(name, type); f) return Failure{start, *f};
      }
      fam.type = std::string(type);
      return std::nullopt;
    }
    if (kw == "UNIT") {
      if (i >= line_.size()) return Failure{i, "UNIT needs a space and a unit after the metric name"};
      if (fam.type == "info" || fam.type == "stateset")
        return Failure{start, fmt::format("{} metrics cannot have a unit", fam.type)};
      if (fam.unit) return Failure{start, fmt::format("second UNIT line for {}", name)};
      if (fam.samples) return Failure{start, fmt::format("UNIT line for {} after its samples", name)};
      std::string_view unit = i < line_.size() ? line_.substr(i + 1) : std::string_view{};
      for (char c : unit)
        if (!is_name_char(c)) return Failure{i + 1, "invalid unit"};
      if (!unit.empty() && !(name.size() > unit.size() + 1 && name.ends_with(unit) &&
                             name[name.size() - unit.size() - 1] == '_'))
        return Failure{i + 1, fmt::format("metric name {} must end with _{} for its unit", name, unit)};
      fam.unit = true;
      return std::nullopt;
    }
    // HELP
    if (om_ && i >= line_.size()) return Failure{i, "HELP needs a space and text after the metric name"};
    if (fam.help) return Failure{start, fmt::format("second HELP line for {}", name)};
    if (om_ && fam.samples) return Failure{start, fmt::format("HELP line for {} after its samples", name)};
    fam.help = true;
    std::string_view doc = i < line_.size() ? line_.substr(om_ ? i + 1 : skip_ws(i)) : std::string_view{};
    if (!valid_utf8(doc)) return Failure{i, "HELP text is not valid UTF-8"};
    for (size_t k = 0; k < doc.size(); ++k) {
      if (doc[k] != '\\') continue;
      char e = k + 1 < doc.size() ? doc[k + 1] : '\0';
      if (e == '\\' || e == 'n' || (om_ && e == '"')) {
        ++k;
        continue;
      }
      // Readers of both formats keep other backslashes as written.
    }
    return std::nullopt;
  }

  // Names under which a TYPE'd family's samples appear.
  bool sample_seen(std::string_view name, std::string_view type) {
    if (seen(name)) return true;
    auto with = [&](const char* suffix) {
      buf_.assign(name).append(suffix);
      return seen(buf_);
    };
    if (type == "histogram" || type == "gaugehistogram")
      return with("_bucket") || with("_sum") || with("_count") || with("_gsum") || with("_gcount");
    if (type == "summary") return with("_sum") || with("_count");
    if (type == "counter") return with("_total");
    return false;
  }

  // OpenMetrics: a family's lines are contiguous; leaving one closes it.
  std::optional<Failure> switch_family(std::string_view name, size_t col) {
    if (name == current_) return std::nullopt;
    if (auto f = close_family(); f) return Failure{col, f->message};
    if (auto c = closed_.find(name); c != closed_.end() && c->second == epoch_)
      return Failure{col, fmt::format("metric family {} appears twice (its lines must be contiguous)", name)};
    current_.assign(name);
    return std::nullopt;
  }

  std::optional<Failure> close_family() {
    if (current_.empty()) return std::nullopt;
    if (auto f = finish_series(); f) return f;
    done_series_.clear();
    if (auto c = closed_.find(current_); c != closed_.end()) c->second = epoch_;
    else closed_.emplace(current_, epoch_);
    current_.clear();
    return std::nullopt;
  }

  // Which family a sample belongs to, by the suffix rules of its type.
  std::pair<std::string_view, std::string_view> resolve(std::string_view name) {
    auto typed = [&](std::string_view base) -> const Family* {
      const Family* f = current_family(base);
      return f && !f->type.empty() ? f : nullptr;
    };
    if (const Family* f = typed(name)) {
      // In OpenMetrics a counter's samples are never named like the family.
      if (!(om_ && (f->type == "counter" || f->type == "histogram" || f->type == "info" || f->type == "gaugehistogram")))
        return {name, f->type};
      if (om_ && (f->type == "histogram" || f->type == "summary")) return {name, f->type};
    }
    static const std::pair<std::string_view, std::string_view> suffixes[] = {
        {"_bucket", "histogram gaugehistogram"}, {"_count", "histogram summary"},  {"_sum", "histogram summary"},
        {"_total", "counter"},                   {"_created", "counter histogram summary"},
        {"_gcount", "gaugehistogram"},           {"_gsum", "gaugehistogram"},      {"_info", "info"}};
    for (const auto& [suffix, types] : suffixes) {
      if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
      std::string_view base = name.substr(0, name.size() - suffix.size());
      const Family* f = typed(base);
      if (f == nullptr) continue;
      if (types.find(f->type) != std::string_view::npos) return {base, f->type};
    }
    if (const Family* f = typed(name)) return {name, f->type};
    return {name, om_ ? "unknown" : "untyped"};
  }

  std::optional<Failure> parse_labels(size_t& i) {
    // i is just past '{'
    labels_.clear();
    for (;;) {
      if (!om_) i = skip_ws(i);
      if (i >= line_.size()) return Failure{i, "unterminated label set"};
      if (line_[i] == '}') {
        ++i;
        return std::nullopt;
      }
      size_t n0 = i;
      if (!is_label_start(line_[i])) return Failure{i, "invalid label name"};
      while (i < line_.size() && is_label_char(line_[i])) ++i;
      std::string_view lname = line_.substr(n0, i - n0);
      if (lname.starts_with("__")) return Failure{n0, fmt::format("label name {} is reserved (starts with __)", lname)};
      if (!om_) i = skip_ws(i);
      if (i >= line_.size() || line_[i] != '=') return Failure{i, fmt::format("expected '=' after label name {}", lname)};
      ++i;
      if (!om_) i = skip_ws(i);
      if (i >= line_.size() || line_[i] != '"') return Failure{i, "expected '\"' to open the label value"};
      ++i;
      size_t v0 = scratch_.size();
      bool closed = false;
      while (i < line_.size()) {
        char c = line_[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          char e = i + 1 < line_.size() ? line_[i + 1] : '\0';
          if (e == '\\') scratch_ += '\\';
          else if (e == '"') scratch_ += '"';
          else if (e == 'n') scratch_ += '\n';
          else if (om_ && e != '\0') {
            // OpenMetrics readers keep an unknown escape as written.
            scratch_ += '\\';
            scratch_ += e;
          } else {
            return Failure{i, "invalid escape in label value (only \\\\, \\\" and \\n)"};
          }
          i += 2;
          continue;
        }
        scratch_ += c;
        ++i;
      }
      if (!closed) return Failure{i, "unterminated label value"};
      std::string_view value(scratch_.data() + v0, scratch_.size() - v0);
      if (!valid_utf8(value)) return Failure{i - 1, "label value is not valid UTF-8"};
      for (const auto& l : labels_)
        if (l.name == lname) return Failure{n0, fmt::format("duplicate label name {}", lname)};
      labels_.push_back({lname, value});
      if (!om_) i = skip_ws(i);
      if (i < line_.size() && line_[i] == ',') {
        ++i;
        if (om_ && i < line_.size() && line_[i] == '}') return Failure{i, "trailing comma in label set"};
        continue;
      }
      if (i < line_.size() && line_[i] == '}') {
        ++i;
        return std::nullopt;
      }
      return Failure{i, "expected ',' or '}' after a label"};
    }
  }

  std::optional<Failure> parse_sample(size_t i) {
    size_t name_end = read_name(i);
    if (name_end == i) return Failure{i, "expected a metric name"};
    std::string_view name = line_.substr(i, name_end - i);
    i = name_end;
    scratch_.clear();
    if (scratch_.capacity() < line_.size()) scratch_.reserve(line_.size());  // no realloc: views stay valid
    labels_.clear();
    bool had_braces = false;
    if (i < line_.size() && line_[i] == '{') {
      ++i;
      had_braces = true;
      if (auto f = parse_labels(i); f) return f;
    }
    // Value.
    if (i >= line_.size() || !ws(line_[i])) {
      if (!(had_braces && !om_ && i < line_.size()))
        return Failure{i, i >= line_.size() ? "missing value" : "expected a space before the value"};
    }
    if (om_) {
      if (i >= line_.size() || line_[i] != ' ') return Failure{i, "expected a space before the value"};
      ++i;
    } else {
      i = skip_ws(i);
    }
    size_t v0 = i;
    while (i < line_.size() && !ws(line_[i])) ++i;
    std::string_view vtext = line_.substr(v0, i - v0);
    if (vtext.empty()) return Failure{v0, "missing value"};
    auto value = parse_number(vtext, om_);
    if (!value) return Failure{v0, fmt::format("invalid value '{}'", printable(vtext))};
    // Timestamp, then (OpenMetrics) an exemplar.
    std::optional<double> ts;
    size_t after = om_ ? i : skip_ws(i);
    if (om_ && i < line_.size()) {
      if (line_[i] != ' ') return Failure{i, "unexpected character after the value"};
      after = i + 1;
      if (after == line_.size()) return Failure{i, "trailing space after the value"};
    }
    bool exemplar = false;
    if (after < line_.size() && !(om_ && line_[after] == '#')) {
      size_t t0 = after;
      size_t t1 = t0;
      while (t1 < line_.size() && !ws(line_[t1])) ++t1;
      std::string_view ttext = line_.substr(t0, t1 - t0);
      if (om_) {
        auto t = parse_number(ttext, true);
        if (!t || std::isnan(*t) || std::isinf(*t)) return Failure{t0, fmt::format("invalid timestamp '{}'", printable(ttext))};
        ts = *t;
      } else {
        auto t = parse_int64(ttext);
        if (!t) return Failure{t0, fmt::format("invalid timestamp '{}' (integer milliseconds)", printable(ttext))};
        ts = static_cast<double>(*t) / 1000.0;
      }
      after = om_ ? t1 : skip_ws(t1);
      if (om_ && t1 < line_.size()) {
        if (line_[t1] != ' ') return Failure{t1, "unexpected character after the timestamp"};
        after = t1 + 1;
        if (after == line_.size()) return Failure{t1, "trailing space after the timestamp"};
      }
    }
    if (after < line_.size()) {
      if (!om_ || line_[after] != '#') return Failure{after, "unexpected text after the sample"};
      exemplar = true;
    }

    // Consecutive samples usually share a name (buckets, label variants):
    // resolve it, mark it seen and find its family once.
    if (!cache_valid_ || name != cache_name_) {
      auto [f, t] = resolve(name);
      Family& fam = family(f);
      cache_name_ = name;
      cache_type_ = t;
      cache_family_ = &fam;
      cache_family_name_ = families_.find(f)->first;
      cache_valid_ = true;
      cache_marked_ = false;
    }
    std::string_view fam_name = cache_family_name_;
    std::string_view type = cache_type_;
    if (om_) {
      if (auto f = switch_family(fam_name, 0); f) return f;
      if (auto f = om_rules(name, fam_name, type, *value, ts, exemplar, after); f) return f;
    } else {
      if (auto f = text_rules(name, fam_name, type, *value); f) return f;
    }
    if (!cache_marked_) {
      mark_seen(name);
      cache_family_->samples = true;
      cache_marked_ = true;
    }
    ++stats_.samples;
    SampleView s{name, fam_name, type, std::span<const LabelView>(labels_.data(), labels_.size()), *value, ts};
    visitor_->on_sample(s);
    return std::nullopt;
  }

  const LabelView* label(std::string_view name) const {
    for (const auto& l : labels_)
      if (l.name == name) return &l;
    return nullptr;
  }

  std::optional<Failure> text_rules(std::string_view name, std::string_view fam, std::string_view type, double value) {
    if (type == "histogram") {
      if (name.ends_with("_bucket") && name.size() > fam.size()) {
        const LabelView* le = label("le");
        if (!le) return Failure{0, fmt::format("histogram bucket {} has no le label", name)};
        if (!parse_number(le->value, false)) return Failure{0, fmt::format("le=\"{}\" is not a number", printable(le->value))};
      }
      if ((name.ends_with("_bucket") || name.ends_with("_count")) && name.size() > fam.size() && value < 0)
        return Failure{0, fmt::format("{} is negative", name)};
    }
    if (type == "summary" && name == fam) {
      const LabelView* q = label("quantile");
      if (q && !parse_number(q->value, false)) return Failure{0, fmt::format("quantile=\"{}\" is not a number", printable(q->value))};
    }
    return std::nullopt;
  }

  std::optional<Failure> om_rules(std::string_view name, std::string_view fam, std::string_view type, double value,
                                  std::optional<double> ts, bool exemplar, size_t ex_at) {
    std::string_view suffix = name.substr(fam.size());
    auto bad = [&](std::string msg) { return Failure{0, std::move(msg)}; };
    // Sample names allowed per type.
    bool ok_name = false;
    if (type == "counter") ok_name = suffix == "_total" || suffix == "_created";
    else if (type == "histogram") ok_name = suffix == "_bucket" || suffix == "_count" || suffix == "_sum" || suffix == "_created";
    else if (type == "gaugehistogram") ok_name = suffix == "_bucket" || suffix == "_gcount" || suffix == "_gsum";
    else if (type == "summary") ok_name = suffix.empty() || suffix == "_count" || suffix == "_sum" || suffix == "_created";
    else if (type == "info") ok_name = suffix == "_info";
    else ok_name = suffix.empty();
    if (!ok_name) return bad(fmt::format("sample {} does not fit its {} family {}", name, type, fam));
    if (exemplar && !((type == "counter" && suffix == "_total") ||
                      ((type == "histogram" || type == "gaugehistogram") && suffix == "_bucket")))
      return Failure{ex_at, "exemplars are allowed only on counter _total and histogram _bucket samples"};
    if (exemplar) {
      if (auto f = parse_exemplar(ex_at); f) return f;
    }
    bool counting = (type == "counter" && suffix == "_total") || suffix == "_count" || suffix == "_gcount" ||
                    suffix == "_bucket" || (type == "summary" && suffix == "_sum") ||
                    (type == "histogram" && suffix == "_sum");
    if (counting && (std::isnan(value) || value < 0) && !(suffix == "_sum" && std::isnan(value)))
      return bad(fmt::format("{} must be a non-negative number", name));
    if ((type == "counter" && suffix == "_total") && std::isinf(value) && value > 0) { /* allowed */ }
    if (suffix == "_count" || suffix == "_gcount" || suffix == "_bucket") {
      if (std::isinf(value) || value != std::floor(value))
        return bad(fmt::format("{} must be an integer count", name));
    }
    if (type == "stateset") {
      if (value != 0 && value != 1) return bad("stateset values must be 0 or 1");
      if (label(fam) == nullptr) return bad(fmt::format("stateset sample needs a {} label", fam));
    }
    if (type == "info" && value != 1) return bad("info values must be 1");
    if (type == "summary" && suffix.empty()) {
      const LabelView* q = label("quantile");
      if (!q) return bad("summary quantile sample has no quantile label");
      auto qv = parse_number(q->value, true);
      if (!qv || *qv < 0 || *qv > 1 || std::isnan(*qv)) return bad(fmt::format("invalid quantile \"{}\"", printable(q->value)));
      if (std::isnan(value) ? false : value < 0) return bad("summary quantile values must not be negative");
    }
    return track_series(name, type, suffix, value, ts);
  }

  // Series within a family: contiguous, timestamps increasing, and for
  // histograms a complete, consistent point.
  std::optional<Failure> track_series(std::string_view name, std::string_view type, std::string_view suffix,
                                      double value, std::optional<double> ts) {
    auto bad = [&](std::string msg) { return Failure{0, std::move(msg)}; };
    std::string key = series_key();
    if (!series_.any || key != series_.key) {
      if (auto f = finish_series(); f) return f;
      if (done_series_.contains(key)) return bad(fmt::format("series of {} appears twice (its samples must be contiguous)", name));
      series_ = Series{};
      series_.key = key;
      series_.any = true;
      series_type_ = std::string(type);
    }
    Series& s = series_;
    // Repeated sample (same name, same le/quantile): a later point of the
    // same series, so both carry timestamps, in order.
    std::string point(name);
    for (const char* l : {"le", "quantile"})
      if (const LabelView* v = label(l)) point.append("\x1f").append(v->value);
    for (auto& [n, last] : s.times) {
      if (n != point) continue;
      if (!last || !ts) return bad(fmt::format("{} repeats without timestamps on both samples", name));
      if (*ts < *last) return bad(fmt::format("timestamps of {} must not decrease", name));
      last = ts;
      return std::nullopt;
    }
    s.times.emplace_back(std::move(point), ts);
    bool hist = type == "histogram" || type == "gaugehistogram";
    if (hist && suffix == "_bucket") {
      if (s.after_buckets) return bad("histogram buckets must come before _count and _sum");
      const LabelView* le = label("le");
      if (!le) return bad(fmt::format("histogram bucket {} has no le label", name));
      auto lev = parse_number(le->value, true);
      if (!lev || std::isnan(*lev)) return bad(fmt::format("le=\"{}\" is not a number", printable(le->value)));
      if (s.inf) return bad("bucket after le=\"+Inf\"");
      if (*lev <= s.last_le) return bad("histogram buckets must be in increasing le order");
      if (s.buckets && value < s.last_bucket) return bad("histogram bucket counts must not decrease");
      s.buckets = true;
      s.last_le = *lev;
      s.last_bucket = value;
      if (*lev < 0) s.negative_bucket = true;
      if (std::isinf(*lev)) {
        s.inf = true;
        s.inf_value = value;
      }
    } else if (hist && (suffix == "_count" || suffix == "_gcount")) {
      s.after_buckets = true;
      s.count = value;
    } else if (hist && (suffix == "_sum" || suffix == "_gsum")) {
      s.after_buckets = true;
      s.sum = value;
    } else if (type == "summary" && suffix == "_sum") {
      if (std::isnan(value) || value < 0) return bad(fmt::format("{} must be a non-negative number", name));
    }
    return std::nullopt;
  }

  std::optional<Failure> finish_series() {
    if (!series_.any) return std::nullopt;
    Series& s = series_;
    done_series_.insert(s.key);
    s.any = false;
    if (series_type_ != "histogram" && series_type_ != "gaugehistogram") return std::nullopt;
    auto bad = [&](std::string msg) { return Failure{0, std::move(msg)}; };
    if (!s.buckets || !s.inf) return bad(fmt::format("histogram {} has no le=\"+Inf\" bucket", current_));
    if (s.count.has_value() != s.sum.has_value())
      return bad(fmt::format("histogram {} needs both its count and its sum, or neither", current_));
    if (s.count && *s.count != s.inf_value)
      return bad(fmt::format("histogram {} count ({}) differs from its +Inf bucket ({})", current_, *s.count, s.inf_value));
    if (s.sum) {
      // A histogram's sum is a counter, impossible with negative buckets; a
      // gauge histogram's sum may go negative only when buckets do.
      bool gauge = series_type_ == "gaugehistogram";
      if (s.negative_bucket && !gauge)
        return bad(fmt::format("histogram {} has negative buckets and so cannot have a sum", current_));
      if (std::isnan(*s.sum) || (*s.sum < 0 && !(gauge && s.negative_bucket)))
        return bad(fmt::format("histogram {} sum must be a non-negative number", current_));
    }
    return std::nullopt;
  }

  // OpenMetrics: a family's sample names must not collide with another family.
  std::optional<std::string> clash(std::string_view name, std::string_view type) const {
    auto names_of = [](std::string_view base, std::string_view t) {
      std::vector<std::string> out;
      auto add = [&](const char* suffix) { out.push_back(std::string(base) + suffix); };
      if (t == "counter") { add("_total"); add("_created"); }
      else if (t == "histogram") { add("_bucket"); add("_count"); add("_sum"); add("_created"); }
      else if (t == "gaugehistogram") { add("_bucket"); add("_gcount"); add("_gsum"); }
      else if (t == "summary") { add(""); add("_count"); add("_sum"); add("_created"); }
      else if (t == "info") add("_info");
      else add("");
      return out;
    };
    auto mine = names_of(name, type);
    for (const auto& [other, fam] : families_) {
      if (other == name || fam.type.empty() || fam.epoch != epoch_) continue;
      if (std::find(mine.begin(), mine.end(), other) != mine.end())
        return fmt::format("metric family {} clashes with family {}", name, other);
      auto theirs = names_of(other, fam.type);
      for (const auto& n : theirs)
        if (n == name || std::find(mine.begin(), mine.end(), n) != mine.end())
          return fmt::format("metric family {} clashes with family {}", name, other);
    }
    return std::nullopt;
  }

  std::string series_key() const {
    std::string key;
    for (const auto& l : labels_) {
      if (l.name == "le" || l.name == "quantile") continue;
      key.append(l.name).append("=").append(l.value).append("\x1f");
    }
    return key;
  }

  std::optional<Failure> parse_exemplar(size_t i) {
    // "# {labels} value [timestamp]"
    if (line_.substr(i, 3) != "# {") return Failure{i, "exemplar must start with '# {'"};
    size_t start = i + 3;
    size_t j = start;
    // Parse labels without disturbing the sample's labels.
    auto saved = labels_;
    std::string saved_scratch;  // values of sample labels live in scratch_; keep them valid
    size_t mark = scratch_.size();
    auto f = parse_labels(j);
    size_t chars = 0;
    for (size_t k = 0; k < labels_.size(); ++k) chars += count_chars(labels_[k].name) + count_chars(labels_[k].value);
    labels_ = std::move(saved);
    scratch_.resize(mark);
    if (f) return f;
    if (chars > 128) return Failure{start, "exemplar label set longer than 128 characters"};
    if (j >= line_.size() || line_[j] != ' ') return Failure{j, "exemplar needs a value"};
    size_t v0 = j + 1, v1 = v0;
    while (v1 < line_.size() && line_[v1] != ' ') ++v1;
    if (!parse_number(line_.substr(v0, v1 - v0), true)) return Failure{v0, "invalid exemplar value"};
    if (v1 < line_.size()) {
      size_t t0 = v1 + 1, t1 = t0;
      while (t1 < line_.size() && line_[t1] != ' ') ++t1;
      auto t = parse_number(line_.substr(t0, t1 - t0), true);
      if (!t || std::isnan(*t) || std::isinf(*t)) return Failure{t0, "invalid exemplar timestamp"};
      if (t1 != line_.size()) return Failure{t1, "unexpected text after the exemplar"};
    }
    return std::nullopt;
  }

  static size_t count_chars(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  static std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 64)) {
      if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
      else out += static_cast<char>(c);
    }
    return out;
  }

  std::string_view in_;
  bool om_ = false;
  ExpositionVisitor* visitor_ = nullptr;
  uint64_t epoch_ = 0;
  std::string buf_;
  bool cache_valid_ = false, cache_marked_ = false;
  std::string_view cache_name_, cache_type_, cache_family_name_;
  Family* cache_family_ = nullptr;
  std::string_view line_;
  std::vector<LabelView> labels_;
  std::string scratch_;
  std::unordered_map<std::string, Family, StringHash, StringEq> families_;
  std::unordered_map<std::string, uint64_t, StringHash, StringEq> seen_names_;  // name -> epoch last seen
  std::unordered_map<std::string, uint64_t, StringHash, StringEq> closed_;      // OpenMetrics families left
  std::string current_;
  // OpenMetrics: the series (label set without le/quantile) being read in
  // the current family, and the series already finished there.
  struct Series {
    std::string key;
    bool any = false;
    bool buckets = false, inf = false, negative_bucket = false, after_buckets = false;
    double inf_value = 0, last_le = -HUGE_VAL, last_bucket = 0;
    std::optional<double> count, sum;
    std::vector<std::pair<std::string, std::optional<double>>> times;  // last timestamp per sample name
  } series_;
  std::unordered_set<std::string, StringHash, StringEq> done_series_;
  std::string series_type_;
  ExpositionStats stats_;
};

ExpositionParser::ExpositionParser() : impl_(std::make_unique<Impl>()) {}
ExpositionParser::~ExpositionParser() = default;

std::expected<ExpositionStats, ExpositionError> ExpositionParser::parse(std::string_view text, ExpositionFormat format,
                                                                        ExpositionVisitor& visitor) {
  return impl_->parse(text, format, visitor);
}

std::expected<ExpositionStats, ExpositionError> parse_exposition(std::string_view text, ExpositionFormat format,
                                                                 ExpositionVisitor& visitor) {
  return ExpositionParser().parse(text, format, visitor);
}

}  // namespace dg

namespace dg {
std::optional<double> parse_sample_value(std::string_view s) { return parse_number(s, false); }
}  // namespace dg
