// Exposition parser: one pass over the input, line by line. Text 0.0.4 follows
// the format document as promtool reads it (classic names, final newline
// required); OpenMetrics follows its ABNF (single spaces, no blank lines,
// metadata before samples, `# EOF`, exemplars, suffix rules per type).
#include "probes/metrics/exposition.h"
#include "probes/metrics/exposition_number.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <unordered_map>
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

// Character classes by table: the hot loops test one byte with one load.
enum : uint8_t { kNameStart = 1, kNameChar = 2, kLabelStart = 4, kLabelChar = 8, kValueStop = 16 };
constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (alpha || c == ':') t[c] |= kNameStart | kNameChar;
    if (digit) t[c] |= kNameChar | kLabelChar;
    if (alpha) t[c] |= kLabelStart | kLabelChar;
    if (c == '"' || c == '\\' || c >= 0x80) t[c] |= kValueStop;  // end, escape, or UTF-8 to check
  }
  return t;
}();
inline bool has(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }
bool is_name_start(char c) { return has(c, kNameStart); }
bool is_name_char(char c) { return has(c, kNameChar); }
bool is_label_start(char c) { return has(c, kLabelStart); }
bool is_label_char(char c) { return has(c, kLabelChar); }

// Names are mostly distinct in length or first byte: test those before memcmp.
inline bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}

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

// The common forms ("1027", "0.25", "12.5e-1") exactly, without from_chars:
// a mantissa below 2^53 and a power of ten up to 1e22 are both exact doubles,
// so one multiplication or division rounds correctly (Clinger's fast path).
// Anything else (long mantissas, big exponents, odd forms) returns nullopt
// and takes the general path, which decides validity as before.
std::optional<double> fast_decimal(std::string_view s) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const char* p = s.data();
  const char* end = p + s.size();
  bool neg = false;
  if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
  auto digit = [&] { return p < end && static_cast<unsigned>(*p - '0') < 10; };
  if (!digit()) return std::nullopt;
  uint64_t m = 0;
  int nd = 0, exp10 = 0;
  for (; digit(); ++p) {
    if (++nd > 19) return std::nullopt;
    m = m * 10 + static_cast<unsigned>(*p - '0');
  }
  if (p < end && *p == '.') {
    ++p;
    if (!digit()) return std::nullopt;
    for (; digit(); ++p, --exp10) {
      if (++nd > 19) return std::nullopt;
      m = m * 10 + static_cast<unsigned>(*p - '0');
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (!digit()) return std::nullopt;
    int x = 0;
    for (; digit(); ++p) {
      if (x > 1000) return std::nullopt;
      x = x * 10 + (*p - '0');
    }
    exp10 += eneg ? -x : x;
  }
  if (p != end || m > (uint64_t{1} << 53) || exp10 < -22 || exp10 > 22) return std::nullopt;
  double v = static_cast<double>(m);
  v = exp10 < 0 ? v / kPow10[-exp10] : v * kPow10[exp10];
  return neg ? -v : v;
}

// Decimal floats only: no hex, no underscores, no "0x"/"0b" forms.
std::optional<double> parse_number(std::string_view s, bool openmetrics) {
  if (s.empty()) return std::nullopt;
  if (auto v = fast_decimal(s)) return v;
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

enum class Kind : uint8_t { None, Counter, Gauge, Histogram, GaugeHistogram, Summary, Info, StateSet, Unknown, Untyped };
constexpr std::string_view kKindName[] = {"",        "counter", "gauge",    "histogram", "gaugehistogram",
                                          "summary", "info",    "stateset", "unknown",   "untyped"};
constexpr uint16_t bit(Kind k) { return static_cast<uint16_t>(1u << static_cast<unsigned>(k)); }
std::string_view name_of(Kind k) { return kKindName[static_cast<size_t>(k)]; }
Kind kind_of(std::string_view t) {
  for (size_t k = 1; k < std::size(kKindName); ++k)
    if (kKindName[k] == t) return static_cast<Kind>(k);
  return Kind::None;
}

struct Family {
  uint64_t epoch = 0;      // the parse that last touched it; older state is stale
  Kind type = Kind::None;  // None: no TYPE line
  bool help = false, unit = false, samples = false;
};

// Sample-name suffixes and the family types they belong to.
struct Suffix {
  std::string_view text;
  uint16_t types;
};
constexpr Suffix kSuffixes[] = {
    {"_bucket", bit(Kind::Histogram) | bit(Kind::GaugeHistogram)},
    {"_count", bit(Kind::Histogram) | bit(Kind::Summary)},
    {"_sum", bit(Kind::Histogram) | bit(Kind::Summary)},
    {"_total", bit(Kind::Counter)},
    {"_created", bit(Kind::Counter) | bit(Kind::Histogram) | bit(Kind::Summary)},
    {"_gcount", bit(Kind::GaugeHistogram)},
    {"_gsum", bit(Kind::GaugeHistogram)},
    {"_info", bit(Kind::Info)}};
constexpr size_t kSuffixCount = std::size(kSuffixes);

// One entry per name the parser has met, as a family (HELP/TYPE/UNIT) and as
// a sample name, with links to the families it could belong to by suffix:
// resolving a sample name costs one hash lookup, then pointer reads.
struct Name {
  Family fam;
  uint64_t seen = 0;     // epoch of the last sample with this name
  std::string_view key;  // the map's own key
  bool bases_known = false;
  std::array<Name*, kSuffixCount> base{};  // this name without suffix k, if it ends with it
};

struct Failure {
  size_t column;
  std::string message;
  std::string_view limit = {};
};

// A set of byte strings that costs no allocation once grown: the keys are
// concatenated in one arena, each entry is an (offset, length) into it, and
// clear() keeps every buffer's capacity. While keys arrive in increasing byte
// order (as Go clients sort their series) a new key cannot be an old one and
// one comparison with the last decides; a small set is scanned; otherwise an
// open-addressing index of entry numbers is used. Its 8-byte slots are
// emptied in O(1) by bumping a generation stamp instead of rewriting them,
// so a set that once held a million keys costs nothing to clear for a small
// one, and a hash tag in the slot spares reading the key on a mismatch.
class KeySet {
 public:
  static constexpr size_t kLinear = 16;

  void clear() {
    arena_.clear();
    entries_.clear();
    indexed_ = false;
    increasing_ = true;
  }
  std::string_view key(size_t i) const { return {arena_.data() + entries_[i].off, entries_[i].len}; }

  // The entry number of `k`, added if absent; second: whether it was added.
  std::pair<size_t, bool> insert(std::string_view k) {
    size_t n = entries_.size();
    if (!indexed_) {
      if (increasing_ && (n == 0 || k > key(n - 1))) return add(k, 0);
      increasing_ = false;
      if (n < kLinear) {
        for (size_t i = 0; i < n; ++i)
          if (key(i) == k) return {i, false};
        return add(k, 0);  // indexed by the next insert once there are kLinear
      }
      build();
    }
    size_t h = std::hash<std::string_view>{}(k);
    Slot& slot = find(k, h);
    if (slot.gen == gen_) return {slot.index, false};
    slot = Slot{static_cast<uint32_t>(n), gen_, tag(h)};
    auto added = add(k, h);
    if (2 * (n + 1) > slots_.size()) build();
    return added;
  }

 private:
  struct Entry {
    size_t off, len, hash;
  };
  struct Slot {
    uint32_t index = 0;
    uint16_t gen = 0;  // the slot is taken only if gen == gen_
    uint16_t tag = 0;  // high bits of the key's hash
  };
  static uint16_t tag(size_t h) { return static_cast<uint16_t>(h >> (8 * sizeof(size_t) - 16)); }

  std::pair<size_t, bool> add(std::string_view k, size_t h) {
    entries_.push_back({arena_.size(), k.size(), h});
    arena_.append(k);
    return {entries_.size() - 1, true};
  }
  Slot& find(std::string_view k, size_t h) {
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.gen != gen_ || (s.tag == tag(h) && key(s.index) == k)) return s;
    }
  }
  // (Re)indexes every entry under a fresh generation, at most half full;
  // hashes of entries added while unindexed are taken here.
  void build() {
    size_t size = std::max<size_t>(64, slots_.size());
    while (size < 4 * entries_.size()) size *= 2;
    if (size != slots_.size()) {
      slots_.assign(size, Slot{});
      gen_ = 1;
    } else if (++gen_ == 0) {  // wrapped: forget every stamp once
      std::fill(slots_.begin(), slots_.end(), Slot{});
      gen_ = 1;
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
      Entry& e = entries_[i];
      if (!indexed_) e.hash = std::hash<std::string_view>{}(key(i));
      find(key(i), e.hash) = Slot{static_cast<uint32_t>(i), gen_, tag(e.hash)};
    }
    indexed_ = true;
  }

  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<Slot> slots_;
  uint16_t gen_ = 0;
  bool indexed_ = false, increasing_ = true;
};

}  // namespace

// Parser state lives across parses: names seen before are looked up, not
// allocated again, so scraping the same target repeatedly allocates nothing.
class ExpositionParser::Impl {
 public:
  explicit Impl(ExpositionLimits limits) : limits_(limits) {}

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
      if (line.size() > limits_.max_line_length)
        return err(line_no, static_cast<int>(limits_.max_line_length + 1),
                   fmt::format("line longer than {} bytes (max_line_length)", limits_.max_line_length),
                   "max_line_length");
      if (!terminated) return err(line_no, static_cast<int>(line.size() + 1), "the last line must end with a newline");
      line_ = line;
      if (auto f = parse_line(); f) return err(line_no, static_cast<int>(f->column + 1), f->message, f->limit);
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
  std::unexpected<ExpositionError> err(int line, int col, std::string msg, std::string_view limit = {}) {
    return std::unexpected(ExpositionError{line, col, std::move(msg), limit});
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

  Name& entry(std::string_view name) {
    auto it = names_.find(name);
    if (it == names_.end()) {
      it = names_.emplace(std::string(name), Name{}).first;
      it->second.key = it->first;
    }
    return it->second;
  }
  // Sample names alternate within a family (a histogram's _bucket, _sum,
  // _count): the last few are compared before hashing.
  Name* recent(std::string_view name) {
    for (Name* n : recent_)
      if (n && same(n->key, name)) return n;
    Name* n = &entry(name);
    recent_[recent_next_++ % recent_.size()] = n;
    return n;
  }
  const Name* find_name(std::string_view name) const {
    auto it = names_.find(name);
    return it == names_.end() ? nullptr : &it->second;
  }
  Family& touch(Name& n) {
    if (n.fam.epoch != epoch_) {
      n.fam = Family{.epoch = epoch_};
      ++stats_.families;
    }
    return n.fam;
  }
  Family& family(std::string_view name) { return touch(entry(name)); }
  const Family* typed(const Name* n) const {
    return n && n->fam.epoch == epoch_ && n->fam.type != Kind::None ? &n->fam : nullptr;
  }
  bool seen(std::string_view name) const {
    const Name* n = find_name(name);
    return n && n->seen == epoch_;
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
      if (fam.type != Kind::None) return Failure{start, fmt::format("second TYPE line for {}", name)};
      if (fam.samples || sample_seen(name, type))
        return Failure{start, fmt::format("TYPE line for {} after its samples", name)};
      if (om_ && fam.unit && (type == "info" || type == "stateset"))
        return Failure{start, fmt::format("{} metrics cannot have a unit", type)};
      if (om_) {
        if (auto f = clash(name, type); f) return Failure{start, *f};
      }
      fam.type = kind_of(type);
      return std::nullopt;
    }
    if (kw == "UNIT") {
      if (i >= line_.size()) return Failure{i, "UNIT needs a space and a unit after the metric name"};
      if (fam.type == Kind::Info || fam.type == Kind::StateSet)
        return Failure{start, fmt::format("{} metrics cannot have a unit", name_of(fam.type))};
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
  std::pair<Name*, Kind> resolve(Name& n) {
    if (const Family* f = typed(&n)) {
      // In OpenMetrics a counter's samples are never named like the family.
      Kind t = f->type;
      if (!(om_ && (t == Kind::Counter || t == Kind::Histogram || t == Kind::Info || t == Kind::GaugeHistogram)))
        return {&n, t};
      if (om_ && (t == Kind::Histogram || t == Kind::Summary)) return {&n, t};
    }
    if (!n.bases_known) {
      // Linked once per name (no recursion: a base's own bases wait for it).
      for (size_t k = 0; k < kSuffixCount; ++k) {
        std::string_view sfx = kSuffixes[k].text;
        if (n.key.size() > sfx.size() && n.key.ends_with(sfx))
          n.base[k] = &entry(n.key.substr(0, n.key.size() - sfx.size()));
      }
      n.bases_known = true;
    }
    for (size_t k = 0; k < kSuffixCount; ++k) {
      const Family* f = typed(n.base[k]);
      if (f && (kSuffixes[k].types & bit(f->type))) return {n.base[k], f->type};
    }
    if (const Family* f = typed(&n)) return {&n, f->type};
    return {&n, om_ ? Kind::Unknown : Kind::Untyped};
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
      if (lname.size() > limits_.max_label_name_length)
        return Failure{n0, fmt::format("label name longer than {} bytes (max_label_name_length)", limits_.max_label_name_length),
                       "max_label_name_length"};
      if (lname.starts_with("__")) return Failure{n0, fmt::format("label name {} is reserved (starts with __)", lname)};
      if (!om_) i = skip_ws(i);
      if (i >= line_.size() || line_[i] != '=') return Failure{i, fmt::format("expected '=' after label name {}", lname)};
      ++i;
      if (!om_) i = skip_ws(i);
      if (i >= line_.size() || line_[i] != '"') return Failure{i, "expected '\"' to open the label value"};
      ++i;
      // The value is a view into the line unless it has escapes; then it is
      // unescaped into scratch_ (reserved to the line's size: views stay valid).
      size_t v0 = i, s0 = scratch_.size();
      bool copied = false, high = false;
      for (;;) {
        size_t j = i;
        while (j < line_.size() && !has(line_[j], kValueStop)) ++j;
        if (copied) scratch_.append(line_.data() + i, j - i);
        i = j;
        if (i >= line_.size()) return Failure{i, "unterminated label value"};
        char c = line_[i];
        if (c == '"') {
          ++i;
          break;
        }
        if (c != '\\') {  // a byte of a UTF-8 sequence, checked below
          high = true;
          if (copied) scratch_ += c;
          ++i;
          continue;
        }
        if (!copied) {
          scratch_.append(line_.data() + v0, i - v0);
          copied = true;
        }
        char e = i + 1 < line_.size() ? line_[i + 1] : '\0';
        if (e == '\\') scratch_ += '\\';
        else if (e == '"') scratch_ += '"';
        else if (e == 'n') scratch_ += '\n';
        else if (om_ && e != '\0') {
          // OpenMetrics readers keep an unknown escape as written.
          scratch_ += '\\';
          scratch_ += e;
          high |= static_cast<unsigned char>(e) >= 0x80;
        } else {
          return Failure{i, "invalid escape in label value (only \\\\, \\\" and \\n)"};
        }
        i += 2;
      }
      std::string_view value = copied ? std::string_view(scratch_.data() + s0, scratch_.size() - s0)
                                      : line_.substr(v0, i - 1 - v0);
      if (high && !valid_utf8(value)) return Failure{i - 1, "label value is not valid UTF-8"};
      if (value.size() > limits_.max_label_value_length)
        return Failure{v0 - 1,
                       fmt::format("label value longer than {} bytes (max_label_value_length)", limits_.max_label_value_length),
                       "max_label_value_length"};
      if (labels_.size() >= limits_.max_labels_per_sample)
        return Failure{n0, fmt::format("more than {} labels on one sample (max_labels_per_sample)", limits_.max_labels_per_sample),
                       "max_labels_per_sample"};
      if (duplicate(lname)) return Failure{n0, fmt::format("duplicate label name {}", lname)};
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

  // Whether `name` is already in labels_; if not, it is recorded as the label
  // about to be appended. A short set is scanned; from kLinearLabels on, an
  // open-addressing table of label indexes (kept across samples: no
  // allocation once grown) makes a set of n labels cost O(n), not O(n^2).
  static constexpr size_t kLinearLabels = 16;
  bool duplicate(std::string_view name) {
    size_t n = labels_.size();
    if (n < kLinearLabels) {
      for (const auto& l : labels_)
        if (same(l.name, name)) return true;
      return false;
    }
    if (n == kLinearLabels || 2 * (n + 1) > dup_slots_.size()) {
      size_t size = 64;
      while (size < 4 * (n + 1)) size *= 2;
      dup_slots_.assign(size, 0);
      for (size_t k = 0; k < n; ++k) slot_for(labels_[k].name) = static_cast<uint32_t>(k + 1);
    }
    uint32_t& slot = slot_for(name);
    if (slot != 0) return true;
    slot = static_cast<uint32_t>(n + 1);
    return false;
  }
  // The slot holding `name`, or the empty one where it would go.
  uint32_t& slot_for(std::string_view name) {
    size_t mask = dup_slots_.size() - 1;
    for (size_t h = std::hash<std::string_view>{}(name) & mask;; h = (h + 1) & mask) {
      uint32_t& slot = dup_slots_[h];
      if (slot == 0 || same(labels_[slot - 1].name, name)) return slot;
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

    if (stats_.samples >= limits_.max_series)
      return Failure{0, fmt::format("more than {} samples in one exposition (max_series)", limits_.max_series),
                     "max_series"};

    // Consecutive samples usually share a name (buckets, label variants):
    // resolve it, mark it seen and find its family once.
    if (cache_name_ == nullptr || !same(name, cache_name_->key)) {
      cache_name_ = recent(name);
      cache_valid_ = false;
    }
    if (!cache_valid_) {
      auto [f, t] = resolve(*cache_name_);
      touch(*f);
      cache_kind_ = t;
      cache_family_ = f;
      cache_valid_ = true;
      cache_marked_ = false;
    }
    name = cache_name_->key;
    std::string_view fam_name = cache_family_->key;
    std::string_view type = name_of(cache_kind_);
    if (om_) {
      if (auto f = switch_family(fam_name, 0); f) return f;
      if (auto f = om_rules(name, fam_name, type, *value, ts, exemplar, after); f) return f;
    } else {
      if (auto f = text_rules(name, fam_name, cache_kind_, *value); f) return f;
    }
    if (!cache_marked_) {
      cache_name_->seen = epoch_;
      cache_family_->fam.samples = true;
      cache_marked_ = true;
    }
    ++stats_.samples;
    SampleView s{name, fam_name, type, std::span<const LabelView>(labels_.data(), labels_.size()), *value, ts};
    visitor_->on_sample(s);
    return std::nullopt;
  }

  const LabelView* label(std::string_view name) const {
    for (const auto& l : labels_)
      if (same(l.name, name)) return &l;
    return nullptr;
  }

  std::optional<Failure> text_rules(std::string_view name, std::string_view fam, Kind type, double value) {
    if (type == Kind::Histogram) {
      if (name.ends_with("_bucket") && name.size() > fam.size()) {
        const LabelView* le = label("le");
        if (!le) return Failure{0, fmt::format("histogram bucket {} has no le label", name)};
        if (!parse_number(le->value, false)) return Failure{0, fmt::format("le=\"{}\" is not a number", printable(le->value))};
      }
      if ((name.ends_with("_bucket") || name.ends_with("_count")) && name.size() > fam.size() && value < 0)
        return Failure{0, fmt::format("{} is negative", name)};
    }
    if (type == Kind::Summary && name.size() == fam.size()) {
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
    // Keys are built in reused buffers and kept in arenas: the steady state
    // allocates nothing per sample or per series.
    series_key(key_buf_);
    if (!series_.any || key_buf_ != done_series_.key(series_.entry)) {
      if (auto f = finish_series(); f) return f;
      // A series is recorded as done when it starts: it differs from the
      // current one here, so finding it means it appeared before.
      auto [entry, added] = done_series_.insert(key_buf_);
      if (!added) return bad(fmt::format("series of {} appears twice (its samples must be contiguous)", name));
      series_ = Series{};
      series_points_.clear();
      series_times_.clear();
      series_.entry = entry;
      series_.any = true;
      series_type_ = type;  // one of kKindName: static storage
    }
    Series& s = series_;
    // Repeated sample (same name, same le/quantile): a later point of the
    // same series, so both carry timestamps, in order.
    key_buf_.assign(name);
    for (const char* l : {"le", "quantile"})
      if (const LabelView* v = label(l)) key_buf_.append("\x1f").append(v->value);
    auto [point, added] = series_points_.insert(key_buf_);
    if (added) series_times_.push_back(ts);
    if (!added) {
      std::optional<double>& last = series_times_[point];
      if (!last || !ts) return bad(fmt::format("{} repeats without timestamps on both samples", name));
      if (*ts < *last) return bad(fmt::format("timestamps of {} must not decrease", name));
      last = ts;
      return std::nullopt;
    }
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
    s.any = false;  // already in done_series_, recorded when it started
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

  // The sample-name suffixes of an OpenMetrics family type.
  static std::span<const std::string_view> suffixes_of(Kind t) {
    static constexpr std::string_view counter[] = {"_total", "_created"};
    static constexpr std::string_view histogram[] = {"_bucket", "_count", "_sum", "_created"};
    static constexpr std::string_view gaugehistogram[] = {"_bucket", "_gcount", "_gsum"};
    static constexpr std::string_view summary[] = {"", "_count", "_sum", "_created"};
    static constexpr std::string_view info[] = {"_info"};
    static constexpr std::string_view plain[] = {""};
    switch (t) {
      case Kind::Counter: return counter;
      case Kind::Histogram: return histogram;
      case Kind::GaugeHistogram: return gaugehistogram;
      case Kind::Summary: return summary;
      case Kind::Info: return info;
      default: return plain;
    }
  }

  // OpenMetrics: a family's sample names must not collide with another
  // family's, nor be another family. Only the few names that could collide
  // are looked up, so n TYPE lines cost O(n), not a scan of every family each.
  std::optional<std::string> clash(std::string_view name, std::string_view type) {
    static constexpr std::string_view all[] = {"", "_total", "_created", "_bucket", "_count",
                                               "_sum", "_gcount", "_gsum", "_info"};
    auto clashes = [&](std::string_view other) {
      return fmt::format("metric family {} clashes with family {}", name, other);
    };
    // c is one of this family's sample names (mine) or its own name.
    auto check = [&](std::string_view c, bool mine) -> std::optional<std::string> {
      if (mine && c != name && typed(find_name(c))) return clashes(c);
      for (std::string_view sfx : all) {
        if (c.size() <= sfx.size() || !c.ends_with(sfx)) continue;
        std::string_view base = c.substr(0, c.size() - sfx.size());
        if (base == name) continue;
        const Family* f = typed(find_name(base));
        if (!f) continue;
        auto theirs = suffixes_of(f->type);
        if (std::find(theirs.begin(), theirs.end(), sfx) != theirs.end()) return clashes(base);
      }
      return std::nullopt;
    };
    for (std::string_view sfx : suffixes_of(kind_of(type))) {
      key_buf_.assign(name).append(sfx);  // reused: no allocation per TYPE line
      if (auto r = check(key_buf_, true)) return r;
    }
    return check(name, false);
  }

  void series_key(std::string& key) const {
    key.clear();
    for (const auto& l : labels_) {
      if (l.name == "le" || l.name == "quantile") continue;
      key.append(l.name).append("=").append(l.value).append("\x1f");
    }
  }

  std::optional<Failure> parse_exemplar(size_t i) {
    // "# {labels} value [timestamp]"
    if (line_.substr(i, 3) != "# {") return Failure{i, "exemplar must start with '# {'"};
    size_t start = i + 3;
    size_t j = start;
    // Parse labels without disturbing the sample's labels (kept aside in a
    // reused vector; their unescaped values in scratch_ stay before `mark`).
    saved_labels_.assign(labels_.begin(), labels_.end());
    size_t mark = scratch_.size();
    auto f = parse_labels(j);
    size_t chars = 0;
    for (size_t k = 0; k < labels_.size(); ++k) chars += count_chars(labels_[k].name) + count_chars(labels_[k].value);
    labels_.swap(saved_labels_);
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
  ExpositionLimits limits_;
  bool cache_valid_ = false, cache_marked_ = false;
  Name* cache_name_ = nullptr;  // entries live as long as the parser
  std::array<Name*, 4> recent_{};
  size_t recent_next_ = 0;
  Name* cache_family_ = nullptr;
  Kind cache_kind_ = Kind::None;
  std::vector<uint32_t> dup_slots_;
  std::string_view line_;
  std::vector<LabelView> labels_, saved_labels_;
  std::string scratch_;
  std::unordered_map<std::string, Name, StringHash, StringEq> names_;  // node-based: Name* stay valid
  std::unordered_map<std::string, uint64_t, StringHash, StringEq> closed_;      // OpenMetrics families left
  std::string current_;
  // OpenMetrics: the series (label set without le/quantile) being read in
  // the current family, and the series already finished there.
  struct Series {
    size_t entry = 0;  // its key in done_series_
    bool any = false;
    bool buckets = false, inf = false, negative_bucket = false, after_buckets = false;
    double inf_value = 0, last_le = -HUGE_VAL, last_bucket = 0;
    std::optional<double> count, sum;
  } series_;
  // Sample points (name, le, quantile) of series_ and the last timestamp of
  // each, by entry number: hashed once there are many, so a series with many
  // buckets stays linear.
  KeySet series_points_;
  std::vector<std::optional<double>> series_times_;
  KeySet done_series_;
  std::string_view series_type_;
  std::string key_buf_;
  ExpositionStats stats_;
};

ExpositionParser::ExpositionParser(ExpositionLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
ExpositionParser::~ExpositionParser() = default;

std::expected<ExpositionStats, ExpositionError> ExpositionParser::parse(std::string_view text, ExpositionFormat format,
                                                                        ExpositionVisitor& visitor) {
  return impl_->parse(text, format, visitor);
}

std::expected<ExpositionStats, ExpositionError> parse_exposition(std::string_view text, ExpositionFormat format,
                                                                 ExpositionVisitor& visitor,
                                                                 const ExpositionLimits& limits) {
  return ExpositionParser(limits).parse(text, format, visitor);
}

}  // namespace dg

namespace dg {
std::optional<double> parse_sample_value(std::string_view s) { return parse_number(s, false); }
}  // namespace dg
