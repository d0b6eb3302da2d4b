#pragma once
/// Masker: splits a log message into tokens and replaces the variable parts
/// with `<*>`, by token class, in one linear pass written by hand (no regex on
/// the hot path): URLs, paths, UUIDs, IPv4/IPv6 addresses with ports, hex ids,
/// numbers (signs, decimals, units), tokens mixing letters and digits (Drain's
/// "tokens with digits are parameters"), quoted strings and the values of
/// key=value pairs. Optional user masks are regexes (Boost.Regex's
/// non-recursive matcher) applied before the classes; only then does a line
/// pay for a regex. Immutable once made; thread-safe.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/error.h"

namespace dg::logs {

struct UserMask {
  std::string pattern;              ///< Perl syntax
  std::string replacement = "<*>";  ///< what a match becomes
};

struct MaskOptions {
  bool urls = true, paths = true, uuids = true, ips = true, hex = true, numbers = true;
  bool mixed = true;       ///< alphanumeric runs holding a digit (ids, host names, durations with units)
  bool quoted = true;      ///< "..." (spaces inside) and '...'
  bool key_values = true;  ///< k=v: the value
  std::vector<UserMask> user;
};

/// One masked token: a span of the output buffer and its hash.
struct Token {
  uint32_t off = 0, len = 0;
  uint64_t hash = 0;
  bool variable = false;  ///< holds a <*> or a digit: Drain's "probably a parameter"
};

inline constexpr std::string_view kWildcard = "<*>";
/// FNV-1a 64: the hash of a token and of a signature's first template. Fixed
/// forever: signature identities are made of it.
uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL);
inline const uint64_t kWildcardHash = fnv1a(kWildcard);

class Masker {
 public:
  static Result<Masker> make(MaskOptions options);
  Masker();
  ~Masker();
  Masker(const Masker&);
  Masker& operator=(const Masker&);
  Masker(Masker&&) noexcept;
  Masker& operator=(Masker&&) noexcept;

  /// Masks `message` into `buf` (cleared first) and its tokens (cleared
  /// first). Linear in the message (user masks aside, which are Boost.Regex's).
  void mask(std::string_view message, std::string& buf, std::vector<Token>& tokens) const;
  const MaskOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace dg::logs
