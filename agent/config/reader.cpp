// ConfigReader: the typed getters every config table is read through (the
// loader's sections and each plugin type's decoder).
#include "agent/config/reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <filesystem>
#include <functional>

#include "agent/core/duration.h"
#include "agent/core/secrets.h"
#include "agent/core/text.h"

namespace dg {

namespace {

bool looks_secret(std::string_view header) {
  std::string h;
  for (char c : header) h += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"authorization", "token", "api-key", "apikey", "secret", "password", "cookie"})
    if (h.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string join_quoted(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("'" + s + "'");
  return text::join(q, ", ");
}

std::string toml_to_json(const toml::node& n) {
  std::function<boost::json::value(const toml::node&)> conv = [&](const toml::node& x) -> boost::json::value {
    if (x.is_string()) return boost::json::value(x.as_string()->get());
    if (x.is_integer()) return boost::json::value(x.as_integer()->get());
    if (x.is_floating_point()) return boost::json::value(x.as_floating_point()->get());
    if (x.is_boolean()) return boost::json::value(x.as_boolean()->get());
    if (x.is_array()) {
      boost::json::array a;
      for (const auto& e : *x.as_array()) a.push_back(conv(e));
      return a;
    }
    if (x.is_table()) {
      boost::json::object o;
      for (auto&& [k, v] : *x.as_table()) o[k.str()] = conv(v);
      return o;
    }
    return nullptr;
  };
  return boost::json::serialize(conv(n));
}

std::optional<std::string> read_type(ConfigReader& r, const std::vector<std::string>& known, std::string_view what) {
  auto t = r.str("type", true, fmt::format("one of {}", join_quoted(known)));
  if (!t) {
    r.accept_all();
    return std::nullopt;
  }
  if (std::find(known.begin(), known.end(), *t) == known.end()) {
    r.accept_all();
    auto hint = text::closest(*t, known);
    r.error("type", fmt::format("unknown {} type '{}' ({}known: {})", what, *t, hint ? "did you mean '" + *hint + "'? " : "",
                                join_quoted(known)));
    return std::nullopt;
  }
  return t;
}

const toml::node* ConfigReader::node(std::string_view key) {
  known_.emplace_back(key);
  return table_.get(key);
}

std::string ConfigReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void ConfigReader::error_at(const toml::node* n, const std::string& path, const std::string& msg) {
  sink_.error(n ? n->source() : table_.source(), path, msg);
}

void ConfigReader::missing(std::string_view key, std::string_view what) {
  error_at(nullptr, key_path(key), fmt::format("missing required key '{}' ({})", key, what));
}

void ConfigReader::wrong_type(std::string_view key, const toml::node& n, std::string_view expected) {
  error_at(&n, key_path(key), fmt::format("expected {}, found {}", expected, toml_type_name(n)));
}

std::optional<std::string> ConfigReader::str(std::string_view key, bool required, std::string_view what) {
  const toml::node* n = node(key);
  if (!n) {
    if (required) missing(key, what);
    return std::nullopt;
  }
  if (!n->is_string()) {
    wrong_type(key, *n, "a string");
    return std::nullopt;
  }
  return n->as_string()->get();
}

std::optional<std::string> ConfigReader::secret_str(std::string_view key, bool required, std::string_view what) {
  auto v = str(key, required, what);
  if (!v) return v;
  return resolve(table_.get(key), key_path(key), *v);
}

std::optional<std::string> ConfigReader::resolve(const toml::node* n, const std::string& path, const std::string& value) {
  auto r = secrets::resolve(value);
  if (!r) {
    error_at(n, path, r.error().message + " (referenced as \"" + value + "\")");
    return std::nullopt;
  }
  return *r;
}

std::optional<std::string> ConfigReader::url(std::string_view key, std::string_view what, std::string_view example) {
  auto v = secret_str(key, true, what);
  if (!v) return v;
  auto u = boost::urls::parse_absolute_uri(*v);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty())
    error(key, u ? "URL must use http or https and name a host" : fmt::format("invalid URL (expected e.g. \"{}\")", example));
  return v;
}

std::optional<bool> ConfigReader::boolean(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (!n->is_boolean()) {
    wrong_type(key, *n, "true or false");
    return std::nullopt;
  }
  return n->as_boolean()->get();
}

std::optional<long long> ConfigReader::integer(std::string_view key, long long min, long long max, bool required) {
  const toml::node* n = node(key);
  if (!n) {
    if (required) missing(key, "an integer");
    return std::nullopt;
  }
  if (!n->is_integer()) {
    wrong_type(key, *n, "an integer");
    return std::nullopt;
  }
  long long v = n->as_integer()->get();
  if (v < min || v > max) {
    error_at(n, key_path(key), fmt::format("{} is out of range ({} to {})", v, min, max));
    return std::nullopt;
  }
  return v;
}

std::optional<double> ConfigReader::number(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  if (n->is_floating_point()) return n->as_floating_point()->get();
  if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
  wrong_type(key, *n, "a number");
  return std::nullopt;
}

std::optional<Duration> ConfigReader::duration(std::string_view key, Duration min, bool required) {
  const toml::node* n = node(key);
  if (!n) {
    if (required) missing(key, "a duration such as \"10s\"");
    return std::nullopt;
  }
  if (!n->is_string()) {
    error_at(n, key_path(key),
             fmt::format("expected a duration string such as \"500ms\", \"10s\" or \"2m\", found {}", toml_type_name(*n)));
    return std::nullopt;
  }
  auto d = parse_duration(n->as_string()->get());
  if (!d) {
    error_at(n, key_path(key), d.error().message);
    return std::nullopt;
  }
  if (*d < min) {
    error_at(n, key_path(key), fmt::format("must be at least {}", format_duration(min)));
    return std::nullopt;
  }
  return *d;
}

std::optional<std::vector<std::string>> ConfigReader::strings(std::string_view key, bool required, bool allow_scalar) {
  const toml::node* n = node(key);
  if (!n) {
    if (required) missing(key, "an array of strings");
    return std::nullopt;
  }
  if (allow_scalar && n->is_string()) return std::vector<std::string>{n->as_string()->get()};
  if (!n->is_array()) {
    wrong_type(key, *n, allow_scalar ? "a string or an array of strings" : "an array of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  const auto& arr = *n->as_array();
  bool ok = true;
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) {
      error_at(&arr[i], fmt::format("{}[{}]", key_path(key), i), fmt::format("expected a string, found {}", toml_type_name(arr[i])));
      ok = false;
      continue;
    }
    out.push_back(arr[i].as_string()->get());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::vector<std::pair<std::string, std::string>> ConfigReader::string_map(std::string_view key, bool headers) {
  std::vector<std::pair<std::string, std::string>> out;
  const toml::node* n = node(key);
  if (!n) return out;
  if (!n->is_table()) {
    wrong_type(key, *n, "a table of strings");
    return out;
  }
  for (auto&& [k, v] : *n->as_table()) {
    std::string p = key_path(key) + "." + std::string(k.str());
    if (!v.is_string()) {
      error_at(&v, p, fmt::format("expected a string, found {}", toml_type_name(v)));
      continue;
    }
    std::string value = v.as_string()->get();
    if (headers && looks_secret(k.str()) && !secrets::is_reference(value)) {
      error_at(&v, p, "literal secret in the config; reference it from the environment as \"env:NAME\"");
      continue;
    }
    if (auto r = resolve(&v, p, value)) out.emplace_back(std::string(k.str()), *r);
  }
  return out;
}

std::optional<size_t> ConfigReader::choice(std::string_view key, const std::vector<std::string>& options) {
  auto v = str(key);
  if (!v) return std::nullopt;
  for (size_t i = 0; i < options.size(); ++i)
    if (*v == options[i]) return i;
  auto hint = text::closest(*v, options);
  error(key, fmt::format("unknown value '{}' ({}known: {})", *v, hint ? "did you mean '" + *hint + "'? " : "",
                         join_quoted(options)));
  return std::nullopt;
}

const toml::table* ConfigReader::table(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) return nullptr;
  if (!n->is_table()) {
    wrong_type(key, *n, "a table");
    return nullptr;
  }
  return n->as_table();
}

std::optional<std::string> ConfigReader::path(std::string_view key, bool required) {
  auto v = str(key, required, "a file path");
  if (!v) return v;
  if (v->empty()) {
    error(key, "empty path");
    return std::nullopt;
  }
  return absolute(*v);
}

std::string ConfigReader::absolute(const std::string& p) const {
  std::filesystem::path fp(p);
  return fp.is_absolute() ? fp.lexically_normal().string() : (std::filesystem::path(dir_) / fp).lexically_normal().string();
}

void ConfigReader::reference(const toml::node* n, std::string kind, std::string name, std::string path) {
  sink_.reference(std::move(kind), std::move(name), n ? n->source() : table_.source(), std::move(path));
}

void ConfigReader::accept_all() {
  for (auto&& [k, v] : table_) known_.emplace_back(k.str());
}

void ConfigReader::finish() {
  for (auto&& [k, v] : table_) {
    std::string key(k.str());
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    auto hint = text::closest(key, known_);
    std::string msg = hint ? fmt::format("unknown key '{}' (did you mean '{}'?)", key, *hint)
                           : fmt::format("unknown key '{}' (known keys: {})", key, join_quoted(known_));
    sink_.error(k.source(), key_path(key), msg);
  }
}

}  // namespace dg
