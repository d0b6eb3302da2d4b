#pragma once
/// ConfigReader: reads one TOML table for the loader and for every plugin
/// type's decoder. Every getter marks its key as known, reports a wrong type or
/// value with file:line:column and the key path, and resolves `env:`
/// references; finish() reports the keys nobody asked for, with the closest
/// known key as a suggestion. Included only by the loader and by decoders
/// (it brings toml++).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "agent/core/clock.h"

namespace dg {

/// What a decoder may need from the rest of the config, read before any
/// plugin table (the [agent] section is read first).
struct DecodeContext {
  /// agent.child_env: the agent variables commands may see.
  std::vector<std::string> child_env;
};

/// Where the reader sends what it finds; the loader implements it.
class ConfigSink {
 public:
  virtual ~ConfigSink() = default;
  virtual void error(const toml::source_region& at, std::string path, std::string message) = 0;
  /// `name` must be defined in the section of `kind` ("probe", "flag
  /// provider", "rollback", "incident sink", "metric source", ...); checked
  /// once every file is read.
  virtual void reference(std::string kind, std::string name, const toml::source_region& at, std::string path) = 0;
  virtual const DecodeContext& context() const = 0;
};

class ConfigReader {
 public:
  ConfigReader(ConfigSink& sink, const toml::table& table, std::string path, std::string dir)
      : sink_(sink), table_(table), path_(std::move(path)), dir_(std::move(dir)) {}

  /// The node of `key` (marked known), or nullptr.
  const toml::node* node(std::string_view key);
  bool has(std::string_view key) const { return table_.get(key) != nullptr; }
  std::string key_path(std::string_view key) const;

  void error_at(const toml::node* n, const std::string& path, const std::string& msg);
  /// An error about `key`: at its value when present, else at the table.
  void error(std::string_view key, const std::string& msg) { error_at(table_.get(key), key_path(key), msg); }
  void missing(std::string_view key, std::string_view what);
  void wrong_type(std::string_view key, const toml::node& n, std::string_view expected);

  std::optional<std::string> str(std::string_view key, bool required = false, std::string_view what = "a string");
  /// A string that may be an `env:NAME` reference, resolved now.
  std::optional<std::string> secret_str(std::string_view key, bool required = false, std::string_view what = "a string");
  std::optional<std::string> resolve(const toml::node* n, const std::string& path, const std::string& value);
  /// A required http(s) URL that may be an env: reference. Never echoed in a
  /// message: it may carry a resolved secret.
  std::optional<std::string> url(std::string_view key, std::string_view what, std::string_view example);
  std::optional<bool> boolean(std::string_view key);
  std::optional<long long> integer(std::string_view key, long long min, long long max, bool required = false);
  /// An integer or a float.
  std::optional<double> number(std::string_view key);
  std::optional<Duration> duration(std::string_view key, Duration min = Duration{1}, bool required = false);
  /// A string or (allow_scalar = false: only) an array of strings.
  std::optional<std::vector<std::string>> strings(std::string_view key, bool required = false, bool allow_scalar = true);
  /// A table of strings (headers = true: literal secrets in secret-looking
  /// header names are refused); values may be env: references.
  std::vector<std::pair<std::string, std::string>> string_map(std::string_view key, bool headers);
  /// One of a fixed set of words: its index, or nothing after reporting it.
  std::optional<size_t> choice(std::string_view key, const std::vector<std::string>& options);
  const toml::table* table(std::string_view key);
  /// A path relative to the directory of the file it is written in.
  std::optional<std::string> path(std::string_view key, bool required = false);
  std::string absolute(const std::string& p) const;

  /// A reader for a sub-table (`key_path` its path), same file and sink.
  ConfigReader child(const toml::table& t, std::string path) const { return ConfigReader(sink_, t, std::move(path), dir_); }
  /// Reads the sub-table `key` with `f(ConfigReader&)` and reports its unknown keys.
  template <class F>
  void with_table(std::string_view key, F&& f) {
    if (const toml::table* t = table(key)) {
      ConfigReader sub = child(*t, key_path(key));
      f(sub);
      sub.finish();
    }
  }
  /// Iterates a section of named tables ([probes.NAME], ...): f(reader, name, where the name is).
  template <class F>
  void each_named(std::string_view section, F&& f);
  /// Iterates an array of tables ([[policies.NAME.actions]]): f(reader, index).
  template <class F>
  void each_table(std::string_view key, std::string_view what, F&& f);

  /// `name` must be a defined `kind`; `n` is where it is written (nullptr: the table).
  void reference(const toml::node* n, std::string kind, std::string name, std::string path);

  /// After a fatal problem with the table (unknown type), its other keys
  /// cannot be judged: do not bury the real error under "unknown key" noise.
  void accept_all();
  void finish();

  const toml::table& raw() const { return table_; }
  const std::string& dir() const { return dir_; }
  const std::string& base_path() const { return path_; }
  ConfigSink& sink() { return sink_; }
  const DecodeContext& context() const { return sink_.context(); }

 private:
  ConfigSink& sink_;
  const toml::table& table_;
  std::string path_;
  std::string dir_;
  std::vector<std::string> known_;
};

/// "a string", "an integer", ... for messages.
const char* toml_type_name(const toml::node& n);
/// 'a', 'b', 'c'
std::string join_quoted(const std::vector<std::string>& v);
/// A TOML value as JSON text (expected JSON values written in TOML).
std::string toml_to_json(const toml::node& n);
/// `type` of a plugin table, checked against the registered types; nothing
/// (after reporting it, and accepting the table's other keys) when missing or unknown.
std::optional<std::string> read_type(ConfigReader& r, const std::vector<std::string>& known, std::string_view what);

template <class F>
void ConfigReader::each_named(std::string_view section, F&& f) {
  const toml::table* t = table(section);
  if (!t) return;
  for (auto&& [k, v] : *t) {
    std::string name(k.str());
    std::string p = std::string(section) + "." + name;
    if (!v.is_table()) {
      error_at(&v, p, "expected a table ([" + std::string(section) + "." + name + "]), found " + toml_type_name(v));
      continue;
    }
    if (name.empty()) {
      error_at(&v, p, "empty name");
      continue;
    }
    ConfigReader r = child(*v.as_table(), p);
    f(r, name, k.source());
    r.finish();
  }
}

template <class F>
void ConfigReader::each_table(std::string_view key, std::string_view what, F&& f) {
  const toml::node* n = node(key);
  if (!n) return;
  if (!n->is_array()) {
    wrong_type(key, *n, "an array of tables ([[" + key_path(key) + "]])");
    return;
  }
  const auto& arr = *n->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = key_path(key) + "[" + std::to_string(i) + "]";
    if (!arr[i].is_table()) {
      error_at(&arr[i], p, "expected " + std::string(what) + ", found " + toml_type_name(arr[i]));
      continue;
    }
    ConfigReader r = child(*arr[i].as_table(), p);
    f(r, i);
    r.finish();
  }
}

}  // namespace dg
