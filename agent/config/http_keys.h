#pragma once
/// The TLS client keys every HTTP client of the agent takes (a sink, a flag
/// service, a deploy API, a metric source): ca_file, client_cert and
/// client_key (mTLS), paths relative to the config file. Decoded once here.
#include "agent/config/reader.h"
#include "agent/core/http_client.h"

namespace dg {

inline void decode_http_tls(ConfigReader& r, HttpRequest::Tls& tls) {
  if (auto v = r.path("ca_file")) tls.ca_file = *v;
  if (auto v = r.path("client_cert")) tls.client_cert = *v;
  if (auto v = r.path("client_key")) tls.client_key = *v;
  if (tls.client_cert.empty() != tls.client_key.empty())
    r.error(tls.client_cert.empty() ? "client_key" : "client_cert",
            "a client certificate needs both client_cert and client_key (PEM files)");
}

}  // namespace dg
