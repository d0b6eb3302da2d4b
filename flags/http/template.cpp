#include "flags/http/template.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "agent/core/json_text.h"
#include "agent/core/text.h"

namespace dg::flagtpl {
namespace {

// Calls f(piece, is_name) for each literal run and each placeholder name, in order.
template <class F>
Result<void> scan(std::string_view tpl, F&& f) {
  size_t pos = 0;
  while (pos < tpl.size()) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string_view::npos) {
      f(tpl.substr(pos), false);
      break;
    }
    size_t close = tpl.find("}}", open + 2);
    if (close == std::string_view::npos) return fail(fmt::format("unclosed '{{{{' at offset {}", open));
    if (open > pos) f(tpl.substr(pos, open - pos), false);
    std::string_view name = tpl.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    f(name, true);
    pos = close + 2;
  }
  return {};
}

const Value* find(const Values& values, std::string_view name) {
  for (const auto& v : values)
    if (v.name == name) return &v;
  return nullptr;
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string quoted = boost::json::serialize(boost::json::value(boost::json::string_view(s.data(), s.size())));
  return quoted.substr(1, quoted.size() - 2);
}

Result<std::vector<std::string>> unknown_names(std::string_view tpl, const std::vector<std::string>& known) {
  std::vector<std::string> out;
  auto r = scan(tpl, [&](std::string_view name, bool is_name) {
    if (!is_name) return;
    for (const auto& k : known)
      if (k == name) return;
    out.emplace_back(name);
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::string> render(std::string_view tpl, const Values& values, Mode mode) {
  std::string out;
  bool in_string = false;  // JSON mode: inside a string literal of the template
  std::string problem;
  auto r = scan(tpl, [&](std::string_view piece, bool is_name) {
    if (!is_name) {
      std::string_view lit = piece;
      if (mode == Mode::kJson) {
        for (size_t i = 0; i < lit.size(); ++i) {
          if (lit[i] == '\\' && in_string) {
            out += lit[i];
            if (i + 1 < lit.size()) out += lit[++i];
            continue;
          }
          if (lit[i] == '"') in_string = !in_string;
          out += lit[i];
        }
      } else {
        out.append(lit);
      }
      return;
    }
    std::string_view name = piece;
    const Value* v = find(values, name);
    if (v == nullptr) {
      if (problem.empty()) problem = fmt::format("unknown placeholder {{{{{}}}}}", name);
      return;
    }
    switch (mode) {
      case Mode::kUrl: out += text::url_encode(v->text); break;
      case Mode::kHeader:
        if (v->text.find_first_of("\r\n") != std::string::npos && problem.empty())
          problem = fmt::format("{{{{{}}}}} has a line break; it cannot go in a header", name);
        out += v->text;
        break;
      case Mode::kText: out += v->text; break;
      case Mode::kJson:
        if (in_string) out += json_escape(v->text);
        else if (v->is_json) out += v->text.empty() ? "null" : v->text;
        else out += "\"" + json_escape(v->text) + "\"";
        break;
    }
  });
  if (!r) return std::unexpected(r.error());
  if (!problem.empty()) return fail(problem);
  if (mode == Mode::kJson) {
    if (auto parsed = parse_json(out); !parsed)
      return fail(fmt::format("the body is not JSON once filled in: {}", parsed.error().message));
  }
  return out;
}

}  // namespace dg::flagtpl
