#pragma once
/// flagd-file provider: an OpenFeature flagd flag-definition JSON file. Every
/// write replaces the file atomically and keeps all other flags and unknown
/// fields; a segment flip becomes a `targeting` rule in front of the existing one.
/// Writes hold an flock on `<file>.lock` from read to rename and compare the
/// flag with the caller's expected state (see FlagProvider).
#include <chrono>
#include <string>

#include "flags/flag_provider.h"

namespace dg {

struct FlagdFileSpec {
  std::string path;  ///< absolute after config load
  /// How long a write waits for another writer's lock on `<file>.lock`.
  std::chrono::milliseconds lock_timeout{10'000};
};

/// Registers the type with its config decoder.
void register_flagd_file_provider(FlagProviderRegistry& registry);

Result<std::unique_ptr<FlagProvider>> make_flagd_file_provider(const FlagProviderSpec& spec);

}  // namespace dg
