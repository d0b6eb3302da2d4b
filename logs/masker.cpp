#include "logs/masker.h"

#include <array>

#include <boost/regex.hpp>

namespace dg::logs {
namespace {

enum : uint8_t { kDigit = 1, kAlpha = 2, kHex = 4, kSpace = 8, kCollapse = 16, kValueEnd = 32, kKey = 64 };

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] |= kDigit | kHex | kKey;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlpha | kKey;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlpha | kKey;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHex;
  for (char c : {' ', '\t', '\r', '\n', '\v', '\f'}) t[static_cast<unsigned char>(c)] |= kSpace;
  // Punctuation that, with wildcards only, makes a whole token variable
  // ("<*>:<*>", "<*>-<*>-<*>", "<*>/<*>").
  for (char c : {'-', ':', '.', '/', ',', '_', '+', '@', '#', '|', '\\'}) t[static_cast<unsigned char>(c)] |= kCollapse;
  for (char c : {',', ';', '&', ')', ']', '}'}) t[static_cast<unsigned char>(c)] |= kValueEnd;
  for (char c : {'_', '.', '-'}) t[static_cast<unsigned char>(c)] |= kKey;
  return t;
}
constexpr auto kTable = make_table();

inline bool is(char c, uint8_t cls) { return (kTable[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool digit(char c) { return is(c, kDigit); }
inline bool alnum(char c) { return is(c, kDigit | kAlpha); }
inline bool hexch(char c) { return is(c, kHex); }

// Lengths of a class match starting at i, 0 if none.
size_t match_uuid(std::string_view s, size_t i) {
  static constexpr int kGroups[] = {8, 4, 4, 4, 12};
  size_t j = i;
  for (int g = 0; g < 5; ++g) {
    for (int k = 0; k < kGroups[g]; ++k, ++j)
      if (j >= s.size() || !hexch(s[j])) return 0;
    if (g < 4) {
      if (j >= s.size() || s[j] != '-') return 0;
      ++j;
    }
  }
  if (j < s.size() && alnum(s[j])) return 0;
  return j - i;
}

size_t match_port(std::string_view s, size_t j) {
  if (j + 1 < s.size() && s[j] == ':' && digit(s[j + 1])) {
    size_t k = j + 1;
    while (k < s.size() && digit(s[k]) && k - j <= 5) ++k;
    if (k >= s.size() || !alnum(s[k])) return k;
  }
  return j;
}

size_t match_ipv4(std::string_view s, size_t i) {
  size_t j = i;
  for (int part = 0; part < 4; ++part) {
    size_t start = j;
    while (j < s.size() && digit(s[j]) && j - start < 4) ++j;
    if (j == start || j - start > 3) return 0;
    if (part < 3) {
      if (j >= s.size() || s[j] != '.') return 0;
      ++j;
    }
  }
  if (j < s.size() && (alnum(s[j]) || (s[j] == '.' && j + 1 < s.size() && digit(s[j + 1])))) return 0;
  return match_port(s, j) - i;
}

size_t match_ipv6(std::string_view s, size_t i) {
  // Groups of at most four hex digits separated by ':' (one '::'), at least
  // two colons and a digit; stops at a group boundary ("...:2181:Fast" keeps
  // ":Fast"). Times (12:00:01) match too: they are variable all the same.
  size_t j = i, colons = 0, last_boundary = i, group = 0;
  bool has_digit = false, double_colon = false;
  while (j < s.size()) {
    char c = s[j];
    if (c == ':') {
      if (j + 1 < s.size() && s[j + 1] == ':') {
        if (double_colon) break;
        double_colon = true;
        colons += 2;
        last_boundary = j + 2;
        j += 2;
        group = 0;
        continue;
      }
      ++colons;
      last_boundary = j;
      group = 0;
      ++j;
      continue;
    }
    if (!hexch(c)) break;
    if (++group > 4) break;
    has_digit |= digit(c);
    ++j;
  }
  size_t end = j;
  if (end < s.size() && alnum(s[end])) end = last_boundary;  // a word continues: cut at the last group
  if (end > i && s[end - 1] == ':' && !(end >= 2 && s[end - 2] == ':')) --end;
  // Re-count what was kept.
  size_t c2 = 0;
  bool d2 = false;
  for (size_t k = i; k < end; ++k) {
    if (s[k] == ':') ++c2;
    else d2 |= digit(s[k]);
  }
  (void)has_digit;
  if (c2 < 2 || !d2) return 0;
  return match_port(s, end) - i;
}

size_t match_0x(std::string_view s, size_t i) {
  if (i + 2 < s.size() && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && hexch(s[i + 2])) {
    size_t j = i + 2;
    while (j < s.size() && hexch(s[j])) ++j;
    if (j >= s.size() || !alnum(s[j])) return j - i;
  }
  return 0;
}

bool is_path(std::string_view c) {
  if (c.size() >= 3 && c[0] == '/' && c[1] != '/') {
    int slashes = 0;
    for (char ch : c) slashes += ch == '/';
    return slashes >= 2;
  }
  if (c.starts_with("./") || c.starts_with("../") || c.starts_with("~/")) return c.size() > 2;
  return c.size() >= 3 && is(c[0], kAlpha) && c[1] == ':' && c[2] == '\\';
}

size_t quote_end(std::string_view s, size_t open, size_t limit) {
  char q = s[open];
  for (size_t j = open + 1; j < s.size() && j - open <= limit; ++j) {
    if (s[j] == '\\') {
      ++j;
      continue;
    }
    if (s[j] == q) return j;
  }
  return std::string_view::npos;
}

}  // namespace

uint64_t fnv1a(std::string_view s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct Masker::Impl {
  MaskOptions options;
  std::vector<std::pair<boost::regex, std::string>> user;

  // What a token's masking emitted, for the collapse rule and the tree.
  struct Emitted {
    bool wildcard = false;  ///< a <*>
    bool other = false;     ///< a character that is not a collapsing separator
    bool digit = false;     ///< a digit kept as it was
  };
  void mask_core(std::string_view core, std::string& out, Emitted& e) const;
  bool mask_token(std::string_view tok, std::string& out) const;
};

void Masker::Impl::mask_core(std::string_view s, std::string& out, Emitted& em) const {
  const MaskOptions& o = options;
  if (s.empty()) return;
  auto wild = [&] {
    out += kWildcard;
    em.wildcard = true;
  };
  if (o.urls && is(s[0], kAlpha) && s.size() > 4 && s.find("://") != std::string_view::npos) {
    wild();
    return;
  }
  if (o.paths && (s[0] == '/' || s[0] == '.' || s[0] == '~' || (s.size() > 2 && s[1] == ':')) && is_path(s)) {
    wild();
    return;
  }
  if (o.quoted && s.size() >= 2 && s.front() == '\'' && s.back() == '\'') {
    out += "'<*>'";
    em.wildcard = em.other = true;
    return;
  }
  size_t n = s.size(), i = 0;
  while (i < n) {
    char c = s[i];
    if (c == '"' && o.quoted) {
      size_t close = quote_end(s, i, 4096);
      if (close != std::string_view::npos) {
        out += "\"<*>\"";
        em.wildcard = em.other = true;
        i = close + 1;
        continue;
      }
    }
    if (c == '=' && o.key_values && i > 0 && is(s[i - 1], kKey) && i + 1 < n && s[i + 1] != '=' && s[i + 1] != '"') {
      out += '=';
      em.other = true;
      size_t e = i + 1;
      while (e < n && !is(s[e], kValueEnd)) ++e;
      if (e > i + 1) wild();
      i = e;
      continue;
    }
    bool sign = (c == '-' || c == '+') && i + 1 < n && digit(s[i + 1]) && (i == 0 || !alnum(s[i - 1]));
    if (alnum(c) || sign || c == ':') {
      size_t m = 0;
      size_t at = sign ? i + 1 : i;
      if (!sign && o.uuids && hexch(c) && (m = match_uuid(s, i))) {
      } else if (!sign && o.ips && digit(c) && (m = match_ipv4(s, i))) {
      } else if (!sign && o.ips && (hexch(c) || c == ':') && (m = match_ipv6(s, i))) {
      } else if (!sign && o.hex && c == '0' && (m = match_0x(s, i))) {
      }
      if (m) {
        wild();
        i += m;
        continue;
      }
      if (c == ':') {
        out += c;
        ++i;
        continue;
      }
      size_t e = at;
      bool has_digit = false, has_alpha = false, all_hex = true;
      while (e < n && alnum(s[e])) {
        has_digit |= digit(s[e]);
        has_alpha |= !digit(s[e]);
        all_hex &= hexch(s[e]);
        ++e;
      }
      if (has_digit && !has_alpha && o.numbers) {
        // Decimals and grouping (1.5, 1,024) and a unit (1.5s) are one number.
        while (e + 1 < n && (s[e] == '.' || s[e] == ',') && digit(s[e + 1])) {
          e += 1;
          while (e < n && digit(s[e])) ++e;
        }
        while (e < n && is(s[e], kAlpha)) ++e;
        wild();
      } else if (has_digit && has_alpha && (o.mixed || (o.hex && all_hex && e - at >= 6))) {
        wild();
      } else {
        out.append(s.substr(i, e - i));
        em.digit |= has_digit;
        em.other |= has_alpha || (has_digit && !sign);
      }
      i = e;
      continue;
    }
    if (c == '<' && s.compare(i, 3, kWildcard) == 0) {  // a user mask's <*>
      wild();
      i += 3;
      continue;
    }
    out += c;
    em.other |= !is(c, kCollapse);
    ++i;
  }
}

bool Masker::Impl::mask_token(std::string_view tok, std::string& out) const {
  // Brackets around a token and its trailing punctuation are kept as they
  // are; the classes are matched on what is inside.
  size_t b = 0, e = tok.size();
  while (b < e && (tok[b] == '(' || tok[b] == '[' || tok[b] == '{')) ++b;
  while (e > b) {
    char c = tok[e - 1];
    if (c == ')' || c == ']' || c == '}' || c == ',' || c == ';' || c == '.' || c == ':' || c == '!' || c == '?') --e;
    else break;
  }
  out.append(tok.substr(0, b));
  size_t core_at = out.size();
  Emitted em;
  mask_core(tok.substr(b, e - b), out, em);
  // A core left with wildcards and separators only is one variable.
  if (em.wildcard && !em.other && out.size() - core_at > kWildcard.size()) {
    out.resize(core_at);
    out += kWildcard;
  }
  out.append(tok.substr(e));
  return em.wildcard || em.digit;
}

Masker::Masker() : impl_(std::make_shared<Impl>()) {}
Masker::~Masker() = default;
Masker::Masker(const Masker&) = default;
Masker& Masker::operator=(const Masker&) = default;
Masker::Masker(Masker&&) noexcept = default;
Masker& Masker::operator=(Masker&&) noexcept = default;

Result<Masker> Masker::make(MaskOptions options) {
  auto impl = std::make_shared<Impl>();
  for (const auto& u : options.user) {
    try {
      impl->user.emplace_back(boost::regex(u.pattern, boost::regex::perl), u.replacement);
    } catch (const std::exception& e) {
      return fail("mask /" + u.pattern + "/: " + e.what());
    }
  }
  impl->options = std::move(options);
  Masker m;
  m.impl_ = std::move(impl);
  return m;
}

const MaskOptions& Masker::options() const { return impl_->options; }

void Masker::mask(std::string_view message, std::string& buf, std::vector<Token>& tokens) const {
  buf.clear();
  tokens.clear();
  std::string replaced;
  if (!impl_->user.empty()) {
    replaced.assign(message);
    for (const auto& [re, with] : impl_->user) {
      try {
        replaced = boost::regex_replace(replaced, re, with);
      } catch (const std::exception&) {
        // Too complex for this line: the line keeps what it had.
      }
    }
    message = replaced;
  }
  const bool quoted = impl_->options.quoted;
  size_t n = message.size(), i = 0;
  while (i < n) {
    while (i < n && is(message[i], kSpace)) ++i;
    if (i >= n) break;
    size_t s = i;
    while (i < n && !is(message[i], kSpace)) {
      char c = message[i];
      // A quoted string with spaces inside stays one token.
      if (quoted && c == '"' && (i == s || std::string_view("=:([{,").find(message[i - 1]) != std::string_view::npos)) {
        size_t close = quote_end(message, i, 4096);
        if (close != std::string_view::npos) {
          i = close + 1;
          continue;
        }
      }
      ++i;
    }
    uint32_t off = static_cast<uint32_t>(buf.size());
    bool variable = impl_->mask_token(message.substr(s, i - s), buf);
    uint32_t len = static_cast<uint32_t>(buf.size()) - off;
    tokens.push_back({off, len, fnv1a(std::string_view(buf.data() + off, len)), variable});
  }
}

}  // namespace dg::logs
