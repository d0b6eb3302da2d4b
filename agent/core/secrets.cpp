#include "agent/core/secrets.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

#include "agent/core/text.h"

namespace dg::secrets {
namespace {

constexpr std::string_view kMarker = "[REDACTED]";

std::mutex g_mutex;
std::vector<std::string>& registry() {
  static std::vector<std::string> values;  // longest first
  return values;
}

void add_one(std::string value) {
  if (value.size() < kMinLength) return;
  std::lock_guard lock(g_mutex);
  auto& r = registry();
  if (std::find(r.begin(), r.end(), value) != r.end()) return;
  r.push_back(std::move(value));
  // Longest first, so a secret containing another is redacted whole.
  std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A path segment or query value that looks like a credential rather than a
// word of the API ("services", "hooks", "v1"): long, or mixing digits or
// letter cases like generated tokens do.
bool looks_generated(std::string_view s) {
  if (s.size() >= 16) return true;
  if (s.size() < 8) return false;
  bool digit = false, upper = false, lower = false;
  for (unsigned char c : s) {
    digit |= std::isdigit(c) != 0;
    upper |= std::isupper(c) != 0;
    lower |= std::islower(c) != 0;
  }
  return digit || (upper && lower);
}

bool credential_key(std::string_view key) {
  std::string k;
  for (unsigned char c : key) k += static_cast<char>(std::tolower(c));
  for (const char* word : {"key", "token", "secret", "sig", "auth", "pass", "pwd", "code", "cred", "session"})
    if (k.find(word) != std::string::npos) return true;
  return false;
}

void add_with_decoded(std::string_view part) {
  add_one(std::string(part));
  if (std::string d = percent_decode(part); d != part) add_one(std::move(d));
}

// The parts of a URL that travel alone: an error may echo just the path, a
// log just the query.
void add_url_parts(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return;
  std::string_view rest = url.substr(scheme_end + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) add_with_decoded(userinfo.substr(colon + 1));
  }
  if (auth_end == std::string_view::npos) return;
  std::string_view tail = rest.substr(auth_end);
  if (auto hash = tail.find('#'); hash != std::string_view::npos) tail = tail.substr(0, hash);
  std::string_view path = tail.substr(0, tail.find('?'));
  std::string_view query = path.size() < tail.size() ? tail.substr(path.size() + 1) : std::string_view{};
  bool any_secret_segment = false;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (looks_generated(seg)) {
      add_with_decoded(seg);
      any_secret_segment = true;
    }
    start = end + 1;
  }
  // "/services/T0/B0/TOKEN" echoed without its host.
  if (any_secret_segment) add_one(std::string(path));
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query = pair.size() < query.size() ? query.substr(pair.size() + 1) : std::string_view{};
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (credential_key(key) || looks_generated(value)) add_with_decoded(value);
  }
}

struct Snapshot {
  std::vector<std::string> values;
  size_t longest = 0;
};

Snapshot snapshot() {
  std::lock_guard lock(g_mutex);
  Snapshot s{registry(), 0};
  for (const auto& v : s.values) s.longest = std::max(s.longest, v.size());
  return s;
}

// The redacted text of s[from, to). Occurrences are searched in a window
// reaching one secret length beyond both ends, so a secret straddling a
// bound is replaced whole, never left half visible. Where occurrences of two
// secrets overlap, the longer one (searched first) wins.
std::string redact_slice(const Snapshot& snap, std::string_view s, size_t from, size_t to) {
  to = std::min(to, s.size());
  from = std::min(from, to);
  if (snap.values.empty()) return std::string(s.substr(from, to - from));
  size_t reach = snap.longest - 1;
  size_t lo = from > reach ? from - reach : 0;
  size_t hi = std::min(s.size(), to + reach);
  std::string_view w = s.substr(lo, hi - lo);
  std::map<size_t, size_t> hits;  // start -> end, in window coordinates, disjoint
  for (const auto& secret : snap.values) {
    for (size_t pos = w.find(secret); pos != std::string_view::npos; pos = w.find(secret, pos + 1)) {
      size_t end = pos + secret.size();
      auto next = hits.lower_bound(pos);
      if (next != hits.end() && next->first < end) continue;
      if (next != hits.begin() && std::prev(next)->second > pos) continue;
      hits.emplace(pos, end);
    }
  }
  std::string out;
  size_t cursor = from - lo, stop = to - lo;
  for (const auto& [a, b] : hits) {
    if (b <= cursor) continue;
    if (a >= stop) break;
    if (a > cursor) out.append(w.substr(cursor, a - cursor));
    out += kMarker;
    cursor = b;
  }
  if (cursor < stop) out.append(w.substr(cursor, stop - cursor));
  return out;
}

// Redacted text from `start` on, long enough for an excerpt of `max` bytes
// (the redacted text may be shorter than the original). Sets `more` when the
// original continues beyond what was returned.
std::string redacted_head(const Snapshot& snap, std::string_view s, size_t start, size_t max, bool& more) {
  for (size_t n = max + 1;; n *= 2) {
    size_t to = start + n < s.size() ? start + n : s.size();
    std::string r = redact_slice(snap, s, start, to);
    more = to < s.size();
    if (!more || r.size() > max) return r;
  }
}

void redact_value(boost::json::value& v, const Snapshot& snap, std::initializer_list<std::string_view> keep) {
  auto redact_string = [&](std::string_view text) { return redact_slice(snap, text, 0, text.size()); };
  if (v.is_string()) {
    std::string r = redact_string(v.get_string());
    if (r != v.get_string()) v = boost::json::string(r);
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) redact_value(e, snap, {});
  } else if (v.is_object()) {
    auto& obj = v.get_object();
    bool key_changed = false;
    for (auto& kv : obj) {
      if (std::find(keep.begin(), keep.end(), kv.key()) != keep.end() && kv.value().is_string()) continue;
      redact_value(kv.value(), snap, {});
      key_changed |= redact_string(kv.key()) != kv.key();
    }
    if (!key_changed) return;
    boost::json::object rebuilt;
    for (auto& kv : obj) {
      std::string key = redact_string(kv.key());
      // Two keys redacted alike must not overwrite each other.
      std::string unique = key;
      for (int i = 2; rebuilt.contains(unique); ++i) unique = fmt::format("{}#{}", key, i);
      rebuilt[unique] = std::move(kv.value());
    }
    v = std::move(rebuilt);
  }
}

}  // namespace

bool is_reference(std::string_view value) { return value.starts_with("env:") || value.starts_with("file:"); }

Result<std::string> resolve(std::string_view value) {
  if (!is_reference(value)) return std::string(value);
  if (value.starts_with("file:")) {
    std::string path(value.substr(5));
    if (path.empty()) return fail("empty path in \"file:\" reference");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("cannot read secret file {}: {}", path, std::strerror(errno)));
    std::string v((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Mounted secrets and `echo token > file` end in a newline that is not part of the value.
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    if (v.empty()) return fail(fmt::format("secret file {} is empty", path));
    add(v);
    return v;
  }
  std::string name(value.substr(4));
  if (name.empty()) return fail("empty environment variable name in \"env:\" reference");
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return fail(fmt::format("environment variable {} is not set", name));
  add(v);
  return std::string(v);
}

void add(std::string value) {
  // The parts that travel alone are secrets too: the credential after an auth
  // scheme ("Bearer <token>") and the secret parts of a URL.
  for (const char* scheme : {"Bearer ", "Basic ", "Token ", "GenieKey ", "OAuth "})
    if (value.starts_with(scheme)) add_one(value.substr(std::string_view(scheme).size()));
  add_url_parts(value);
  add_one(std::move(value));
}

std::string redact(std::string_view text) { return redact_slice(snapshot(), text, 0, text.size()); }

void redact_json(boost::json::value& v, std::initializer_list<std::string_view> keep) {
  Snapshot snap = snapshot();
  if (snap.values.empty()) return;
  redact_value(v, snap, keep);
}

std::string excerpt(std::string_view s, size_t max) { return excerpt_around(s, 0, max); }

std::string excerpt_around(std::string_view s, size_t pos, size_t max) {
  Snapshot snap = snapshot();
  size_t start = std::min(pos > max / 2 ? pos - max / 2 : 0, s.size());
  bool more = false;
  std::string r = redacted_head(snap, s, start, max, more);
  std::string out = (start > 0 ? "…" : "") + text::excerpt(r, max);
  if (more && !out.ends_with("…")) out += "…";
  return out;
}

std::string excerpt_tail(std::string_view s, size_t max, bool truncated) {
  Snapshot snap = snapshot();
  // A capped output may end inside a secret whose rest was never read: an
  // end that is the start of a secret is dropped.
  size_t end = s.size();
  if (truncated) {
    size_t drop = 0;
    for (const auto& secret : snap.values)
      for (size_t k = std::min(secret.size() - 1, s.size()); k > drop; --k)
        if (s.ends_with(std::string_view(secret).substr(0, k))) {
          drop = k;
          break;
        }
    end -= drop;
  }
  for (size_t n = max + 1;; n *= 2) {
    size_t from = end > n ? end - n : 0;
    std::string r = redact_slice(snap, s, from, end);
    if (from == 0 || r.size() > max) {
      std::string out = text::excerpt_tail(r, max);
      if (from > 0 && !out.starts_with("…")) out = "…" + out;
      if (truncated) out += "…";
      return out;
    }
  }
}

void clear_for_tests() {
  std::lock_guard lock(g_mutex);
  registry().clear();
}

}  // namespace dg::secrets
