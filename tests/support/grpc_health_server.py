#!/usr/bin/env python3
"""A real gRPC server (Debian's python3-grpcio) answering the standard
health check, grpc.health.v1.Health/Check, for the grpc probe's tests.
Messages are encoded by hand (two tiny protobufs), so no generated code is
needed. Prints the port it listens on, then serves until killed.

Services: "" and "wiki" are SERVING, "down" is NOT_SERVING, any other name
is NOT_FOUND (as the reference health server answers)."""
import sys
from concurrent import futures

import grpc

STATUSES = {"": 1, "wiki": 1, "down": 2}


def service_of(request: bytes) -> str:
    # HealthCheckRequest { string service = 1; }
    if not request:
        return ""
    assert request[0] == 0x0A, request
    length, shift, i = 0, 0, 1
    while True:
        b = request[i]
        i += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return request[i:i + length].decode()


def check(request, context):
    name = service_of(request)
    if name not in STATUSES:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return bytes([0x08, STATUSES[name]])  # HealthCheckResponse { status = 1 }


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
