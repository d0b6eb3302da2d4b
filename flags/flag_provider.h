#pragma once
/// FlagProvider: where feature flags live. Calls are blocking and return what
/// happened as a value; apply() is idempotent (an already-applied change says
/// changed = false). Providers only touch the flag named in the change.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "agent/core/error.h"
#include "agent/core/registry.h"

namespace dg {

struct FlagdFileSpec {
  std::string path;  ///< absolute after config load
};

struct FlagProviderSpec {
  std::string name;
  std::string type;  ///< "flagd-file"
  std::variant<FlagdFileSpec> kind;
};

struct FlagChange {
  std::string flag;
  std::string variant;
  std::string segment;            ///< words, for messages; empty = everyone
  std::string segment_jsonlogic;  ///< JSON text; empty = everyone
};

/// A flag's full state as the provider stores it, enough to restore it.
struct FlagSnapshot {
  std::string flag;
  std::string state_json;  ///< "null" when the flag did not exist
};

struct FlagOutcome {
  bool changed = false;
  FlagSnapshot previous;
  FlagSnapshot current;
  std::string detail;
};

class FlagProvider {
 public:
  virtual ~FlagProvider() = default;
  virtual Result<FlagSnapshot> read(const std::string& flag) = 0;
  virtual Result<FlagOutcome> apply(const FlagChange& change) = 0;
  /// What apply() would do, without doing it (dry runs).
  virtual Result<FlagOutcome> preview(const FlagChange& change) = 0;
  virtual Result<FlagOutcome> restore(const FlagSnapshot& snapshot) = 0;
};

struct FlagProviderRegistry : Registry<FlagProviderSpec, FlagProvider> {
  FlagProviderRegistry() : Registry("flag provider") {}
};

void register_builtin_flag_providers(FlagProviderRegistry& registry);

}  // namespace dg
