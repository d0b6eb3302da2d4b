#pragma once
/// flagd-file provider: an OpenFeature flagd flag-definition JSON file. Every
/// write replaces the file atomically and keeps all other flags and unknown
/// fields; a segment flip becomes a `targeting` rule in front of the existing one.
/// Writes hold an flock on `<file>.lock` from read to rename and compare the
/// flag with the caller's expected state (see FlagProvider).
#include "flags/flag_provider.h"

namespace dg {

Result<std::unique_ptr<FlagProvider>> make_flagd_file_provider(const FlagProviderSpec& spec);

}  // namespace dg
