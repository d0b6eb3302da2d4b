#pragma once
/// The `grpc` probe: the standard health check (grpc.health.v1.Health/Check)
/// for one service name, expecting SERVING. One unary call over HTTP/2
/// through libcurl (h2c with prior knowledge, or h2 over TLS): the agent
/// already loads libcurl with nghttp2 for HTTP, and a two-field message needs
/// no gRPC library (Debian's libgrpc++ brings protobuf and abseil).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/observation.h"
#include "probes/probe.h"

namespace dg {

struct GrpcProbeSpec {
  std::string target;  ///< host:port
  bool tls = false;
  bool verify_tls = true;
  std::string service;  ///< "" asks for the server as a whole
  std::vector<std::pair<std::string, std::string>> metadata;  ///< request headers; secrets resolved
  std::string expect_status = "SERVING";
};

struct GrpcFacts {
  std::optional<std::string> transport_error;  ///< no HTTP/2 response: error
  int http_status = 0;
  std::string content_type;
  std::optional<int> grpc_status;  ///< from the trailers (or headers, trailers-only)
  std::string grpc_message;
  std::optional<int> serving_status;  ///< HealthCheckResponse.status
  Duration elapsed{0};
};

/// "SERVING" for 1, …; the names of HealthCheckResponse.ServingStatus.
const char* serving_status_name(int status);
/// The request message in gRPC's length-prefixed framing.
std::string grpc_health_request(const std::string& service);
/// HealthCheckResponse.status from a framed response body; nullopt if it is not one.
std::optional<int> grpc_health_status(std::string_view body);

Observation evaluate_grpc(const std::string& probe, const GrpcProbeSpec& spec, const GrpcFacts& facts, TimePoint at);

std::unique_ptr<Probe> make_grpc_probe(std::string name, Duration timeout, GrpcProbeSpec spec);
/// Registers the `grpc` type with its config decoder (grpc_config.cpp).
void register_grpc_probe(ProbeRegistry& registry);

}  // namespace dg
