#pragma once
/// Registry of named implementations of one interface (probes, flag providers,
/// rollback actions, incident sinks, metric sources). Each type registers, in
/// its own home, its factory and its config decoder together; the built-in
/// list of a kind (builtin_probes(), ...) calls those registrations. An
/// unknown type is an error listing the known ones.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/error.h"

namespace dg {

class ConfigReader;  // agent/config/reader.h

template <class Spec, class Product>
class Registry {
 public:
  using Factory = std::function<Result<std::unique_ptr<Product>>(const Spec&)>;
  /// Reads the type's own keys from its table into spec.kind (the loader has
  /// read the common ones: type, name, and the kind's shared keys), reporting
  /// problems through the reader; spec.kind stays empty when they are fatal.
  using Decoder = std::function<void(ConfigReader&, Spec&)>;

  explicit Registry(std::string what) : what_(std::move(what)) {}
  void add(std::string type, Factory f, Decoder d = nullptr) {
    decoders_[type] = std::move(d);
    factories_[std::move(type)] = std::move(f);
  }
  /// nullptr for an unknown type (or one registered without a decoder).
  const Decoder* decoder(const std::string& type) const {
    auto it = decoders_.find(type);
    return it == decoders_.end() || !it->second ? nullptr : &it->second;
  }
  const std::string& what() const { return what_; }

  /// Dispatches on spec.type.
  Result<std::unique_ptr<Product>> make(const Spec& spec) const {
    auto it = factories_.find(spec.type);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& type : types()) known += (known.empty() ? "" : ", ") + type;
      return fail(fmt::format("unknown {} type \"{}\" (known: {})", what_, spec.type, known));
    }
    return it->second(spec);
  }

  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : factories_) out.push_back(k);
    return out;
  }

 private:
  std::string what_;
  std::map<std::string, Factory> factories_;
  std::map<std::string, Decoder> decoders_;
};

/// A kind's built-in registry, filled once by its list of types (one
/// instance per registry type, so per kind).
template <class R>
const R& built_in_once(void (*fill)(R&)) {
  static const R registry = [fill] {
    R r;
    fill(r);
    return r;
  }();
  return registry;
}

}  // namespace dg
