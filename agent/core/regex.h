#pragma once
/// Regex: patterns from config applied to untrusted text (response bodies,
/// label values). std::regex recurses per character and can overflow the
/// stack on long inputs; this wraps Boost.Regex's non-recursive matcher, whose
/// complexity limit turns a pathological match into an error value instead of
/// a crash. Immutable and thread-safe once compiled.
#include <memory>
#include <string>
#include <string_view>

#include "agent/core/error.h"

namespace dg {

class Regex {
 public:
  /// ECMAScript/Perl syntax. Error carries the reason the pattern is invalid.
  static Result<Regex> compile(std::string_view pattern);
  /// Somewhere in `text`.
  Result<bool> search(std::string_view text) const;
  /// The whole of `text` (label matchers are fully anchored, as in PromQL).
  Result<bool> full_match(std::string_view text) const;
  const std::string& pattern() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace dg
