#pragma once
/// Registry of named implementations of one interface (probes, flag providers,
/// rollback actions, incident sinks). Filled explicitly by register_builtin_*()
/// from main and tests; an unknown type is an error listing the known ones.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/error.h"

namespace dg {

template <class Spec, class Product>
class Registry {
 public:
  using Factory = std::function<Result<std::unique_ptr<Product>>(const Spec&)>;

  explicit Registry(std::string what) : what_(std::move(what)) {}
  void add(std::string type, Factory f) { factories_[std::move(type)] = std::move(f); }

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
};

}  // namespace dg
