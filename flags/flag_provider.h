#pragma once
/// FlagProvider: where feature flags live. Calls are blocking and return what
/// happened as a value; apply() is idempotent (an already-applied change says
/// changed = false). Providers only touch the flag named in the change.
///
/// Writes are compare-and-swap: the caller says which state it expects the
/// flag to be in (the one it journaled), and a provider writes only if the
/// flag is still in that state, atomically with respect to other writers (a
/// lock for files, a conditional request — version, ETag, JSON-Patch `test` —
/// for remote services). Otherwise nothing is written and the outcome says
/// `conflict`, with the state found: someone else changed the flag, and their
/// change must not be overwritten with a stale copy.
#include <chrono>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "agent/core/error.h"
#include "agent/core/registry.h"
#include "agent/core/settings.h"

namespace dg {

struct FlagProviderSpec {
  std::string name;
  std::string type;  ///< a registered provider type (flags/registry.cpp)
  Settings kind;     ///< the type's own settings, decoded in its home
};

struct FlagChange {
  std::string flag;
  std::string variant;
  std::string segment;            ///< words, for messages; empty = everyone
  std::string segment_jsonlogic;  ///< JSON text; empty = everyone
};

/// A flag's full state as the provider stores it, enough to restore it. Two
/// snapshots are the same state when their JSON values are equal (key order
/// and whitespace do not matter); a remote provider includes only what it
/// writes and restores, not its own bookkeeping (versions, timestamps).
struct FlagSnapshot {
  std::string flag;
  std::string state_json;  ///< "null" when the flag did not exist
};

/// True when both hold the same JSON value (false if either is not JSON).
bool same_state(const FlagSnapshot& a, const FlagSnapshot& b);

struct FlagOutcome {
  bool changed = false;
  FlagSnapshot previous;  ///< the state found under the lock, before any write
  FlagSnapshot current;   ///< the state after the call
  std::string detail;
  /// The flag was not in the expected state: nothing was written, `previous`
  /// (= `current`) is the state found, left as it is.
  bool conflict = false;
};

class FlagProvider {
 public:
  virtual ~FlagProvider() = default;
  virtual Result<FlagSnapshot> read(const std::string& flag) = 0;
  /// Applies `change` if the flag is in `expected_previous` (no expectation:
  /// whatever it is in). An already-applied change is unchanged, not a conflict,
  /// when the flag is in the expected state.
  virtual Result<FlagOutcome> apply(const FlagChange& change,
                                    const std::optional<FlagSnapshot>& expected_previous = std::nullopt) = 0;
  /// What apply() would do, without doing it (dry runs).
  virtual Result<FlagOutcome> preview(const FlagChange& change) = 0;
  /// Puts `snapshot` back if the flag is in `expected_current` (for an undo:
  /// the state our apply() wrote). A flag already in `snapshot` is unchanged,
  /// never a conflict.
  virtual Result<FlagOutcome> restore(const FlagSnapshot& snapshot,
                                      const std::optional<FlagSnapshot>& expected_current = std::nullopt) = 0;
};

struct FlagProviderRegistry : Registry<FlagProviderSpec, FlagProvider> {
  FlagProviderRegistry() : Registry("flag provider") {}
};

void register_builtin_flag_providers(FlagProviderRegistry& registry);
/// Every built-in type, registered once (the loader reads decoders from it).
const FlagProviderRegistry& builtin_flag_providers();

}  // namespace dg
