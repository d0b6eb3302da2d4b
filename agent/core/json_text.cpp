#include "agent/core/json_text.h"

#include <boost/json.hpp>

namespace dg {
namespace {

void write(std::string& out, const boost::json::value& v, int indent, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(d * indent), ' ');
  };
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& kv : o) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      out += boost::json::serialize(boost::json::string_view(kv.key()));
      out += ": ";
      write(out, kv.value(), indent, depth + 1);
    }
    newline(depth);
    out += '}';
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& e : a) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      write(out, e, indent, depth + 1);
    }
    newline(depth);
    out += ']';
  } else {
    out += boost::json::serialize(v);
  }
}

}  // namespace

std::string pretty_json(const boost::json::value& v, int indent) {
  std::string out;
  write(out, v, indent, 0);
  out += '\n';
  return out;
}

std::string compact_json(const boost::json::value& v) { return boost::json::serialize(v); }

Result<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 512;
  boost::json::value v = boost::json::parse(text, ec, {}, opts);
  if (ec) return fail(ec.message());
  return v;
}

boost::json::value embed_json(std::string_view text) {
  auto v = parse_json(text);
  return v ? std::move(*v) : boost::json::value(boost::json::string(text));
}

std::string string_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace dg
