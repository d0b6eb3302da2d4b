#include "agent/core/secrets.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/text.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace dg::secrets {
void add_one(std::string value);
namespace {

std::mutex g_mutex;
std::vector<std::string>& registry() {
  static std::vector<std::string> values;
  return values;
}

}  // namespace

bool is_reference(std::string_view value) { return value.starts_with("env:"); }

Result<std::string> resolve(std::string_view value) {
  if (!is_reference(value)) return std::string(value);
  std::string name(value.substr(4));
  if (name.empty()) return fail("empty environment variable name in \"env:\" reference");
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return fail(fmt::format("environment variable {} is not set", name));
  add(v);
  return std::string(v);
}

void add_one(std::string value);

void add(std::string value) {
  // The parts that travel alone are secrets too: the credential after an auth
  // scheme ("Bearer <token>") and the password in a URL's userinfo.
  for (const char* scheme : {"Bearer ", "Basic ", "Token ", "GenieKey ", "OAuth "})
    if (value.starts_with(scheme)) add_one(value.substr(std::string_view(scheme).size()));
  if (auto at = value.find('@'), scheme_end = value.find("://"); at != std::string::npos && scheme_end != std::string::npos &&
                                                                 scheme_end < at) {
    std::string userinfo = value.substr(scheme_end + 3, at - scheme_end - 3);
    if (auto colon = userinfo.find(':'); colon != std::string::npos) add_one(userinfo.substr(colon + 1));
  }
  add_one(std::move(value));
}

void add_one(std::string value) {
  if (value.size() < 3) return;
  // Text is often redacted after JSON serialization, where quotes, backslashes
  // and control bytes appear escaped: register that spelling too.
  std::string escaped = boost::json::serialize(boost::json::string(value));
  escaped = escaped.substr(1, escaped.size() - 2);
  // ...and the XML spelling, for reports such as JUnit.
  std::string xml = text::xml_escape(value);
  std::lock_guard lock(g_mutex);
  auto& r = registry();
  for (std::string* v : {&value, &escaped, &xml}) {
    if (std::find(r.begin(), r.end(), *v) == r.end()) r.push_back(*v);
  }
  // Longest first, so a secret containing another is redacted whole.
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string redact(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(g_mutex);
  for (const auto& s : registry()) {
    size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), "[REDACTED]");
      pos += 10;
    }
  }
  return out;
}

void clear_for_tests() {
  std::lock_guard lock(g_mutex);
  registry().clear();
}

}  // namespace dg::secrets
