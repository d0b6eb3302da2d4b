#pragma once
#include "agent/core/http_client.h"
#include "agent/core/observation.h"
#include "probes/probe.h"

namespace dg {

/// Pure: judges one HTTP exchange (or its transport failure) against the spec.
Observation evaluate_http(const ProbeSpec& spec, const Result<HttpResponse>& response, TimePoint at);

std::unique_ptr<Probe> make_http_probe(const ProbeSpec& spec);

}  // namespace dg
