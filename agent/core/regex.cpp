#include "agent/core/regex.h"

#include <fmt/format.h>

#include <boost/regex.hpp>

namespace dg {

struct Regex::Impl {
  std::string pattern;
  boost::regex re;
};

Result<Regex> Regex::compile(std::string_view pattern) {
  try {
    auto impl = std::make_shared<Impl>(Impl{std::string(pattern), boost::regex(pattern.begin(), pattern.end(), boost::regex::perl)});
    Regex r;
    r.impl_ = std::move(impl);
    return r;
  } catch (const boost::regex_error& e) {
    // Boost appends the fragment with ">>>HERE>>>"; the position is enough.
    std::string what = e.what();
    if (auto cut = what.find(".  "); cut != std::string::npos) what.resize(cut + 1);
    return fail(fmt::format("{} (at offset {})", what, e.position()));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

Result<bool> Regex::search(std::string_view text) const {
  try {
    return boost::regex_search(text.begin(), text.end(), impl_->re);
  } catch (const std::exception& e) {
    return fail(fmt::format("regex /{}/ could not be applied: {}", impl_->pattern, e.what()));
  }
}

Result<bool> Regex::full_match(std::string_view text) const {
  try {
    return boost::regex_match(text.begin(), text.end(), impl_->re);
  } catch (const std::exception& e) {
    return fail(fmt::format("regex /{}/ could not be applied: {}", impl_->pattern, e.what()));
  }
}

const std::string& Regex::pattern() const { return impl_->pattern; }

}  // namespace dg
