#pragma once
/// The keys every HTTP metric source shares (url, headers, timeout,
/// tls_verify, ca_file, client_cert, client_key), decoded once for each source type's decoder.
#include <string_view>

#include "agent/config/http_keys.h"

namespace dg {

template <class Spec>
void decode_endpoint(ConfigReader& r, Spec& spec, std::string_view what, std::string_view example) {
  if (auto v = r.url("url", what, example)) spec.url = *v;
  spec.headers = r.string_map("headers", true);
  if (auto v = r.duration("timeout")) spec.timeout = *v;
  if (auto v = r.boolean("tls_verify")) spec.verify_tls = *v;
  decode_http_tls(r, spec.tls);
}

}  // namespace dg
