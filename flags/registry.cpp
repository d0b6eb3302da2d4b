#include "flags/flag_provider.h"
#include "flags/flagd_file.h"

namespace dg {

void register_builtin_flag_providers(FlagProviderRegistry& registry) {
  registry.add("flagd-file", make_flagd_file_provider);
}

}  // namespace dg
