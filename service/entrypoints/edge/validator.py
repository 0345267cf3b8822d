"""The edge's body validator: Envoy's ext_authz filter asks it about every REST body.

Envoy buffers a REST request's body (up to the route's limit), then calls `Check` here with
the method, the path and the raw bytes, and forwards the request only on OK. A refusal is a
400 (404 for a body at a path no RPC binds) whose body is the same JSON `google.rpc.Status`
with `BadRequest` field violations the service returns, so it is decided before anything is
written. Envoy sends no other headers (`allowed_headers` in envoy/envoy.yaml), so API keys
never reach this process.

It runs as its own small process (`payment-service edge-validator`): next to Envoy on
loopback in the local stack, as a sidecar in the Envoy pod in the cluster. Not in the
payment service: parsing up to 1 MiB of untrusted JSON before authentication must not
compete with payments for the service's event loop, and a validator fault must not take the
payment API down. Envoy fails closed: while this process is down, bodies are refused with
503 (envoy/envoy.yaml, `status_on_error`) and GETs and native gRPC, which it never sees,
carry on.

Only keys are judged here (body_rules.py); values stay the transcoder's and the service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import signal

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health, health_pb2_grpc

from ...config import Settings
from ..event_loop import event_loop_factory
from .body_rules import BodyRules, Violation

log = logging.getLogger("service.edge.validator")
REPO_DESCRIPTOR = pathlib.Path(__file__).resolve().parents[3] / "envoy" / "payment.pb"
JSON_HEADER = base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key="content-type", value="application/json"))


def refusal_body(violation: Violation, code: int) -> str:
    """The JSON google.rpc.Status the service itself would return for this field."""
    return json.dumps({
        "code": code,
        "message": violation.message,
        "details": [{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [{"field": violation.field, "description": violation.description,
                                  "reason": violation.reason}],
        }],
    })


class BodyValidator(external_auth_pb2_grpc.AuthorizationServicer):
    """ext_authz `Check`: OK, or a denial carrying the JSON error for the first bad key."""

    def __init__(self, rules: BodyRules) -> None:
        self.rules = rules

    async def Check(self, request: external_auth_pb2.CheckRequest, context) -> external_auth_pb2.CheckResponse:
        http = request.attributes.request.http
        body = http.raw_body or http.body.encode()
        violation = self.rules.check(http.method, http.path, body)
        if violation is None:
            return external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.OK))
        not_bound = violation.reason == "NO_BINDING"
        code, status = ((code_pb2.NOT_FOUND, http_status_pb2.NotFound) if not_bound
                        else (code_pb2.INVALID_ARGUMENT, http_status_pb2.BadRequest))
        # The field path only: never values, and keys are already shortened by body_rules.
        log.info("request body refused", extra={"reason": violation.reason, "request_id": http.id,
                                                "method": http.method, "bytes": len(body)})
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code, message=violation.message),
            denied_response=external_auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=status), body=refusal_body(violation, code),
                headers=[JSON_HEADER]))


def create_server(address: str, rules: BodyRules | None = None,
                  descriptor: pathlib.Path = REPO_DESCRIPTOR) -> tuple[grpc.aio.Server, int]:
    """The validator and grpc.health.v1 on `address` ("host:0" binds a free port)."""
    rules = rules or BodyRules.from_descriptor_set(descriptor.read_bytes())
    server = grpc.aio.server()
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(BodyValidator(rules), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind the edge validator to {address}")
    return server, port


async def run(address: str, descriptor: pathlib.Path) -> None:
    server, port = create_server(address, descriptor=descriptor)
    await server.start()
    log.info("edge validator listening", extra={"address": address, "port": port,
                                                "descriptor": str(descriptor)})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(5)


def serve(settings: Settings) -> None:
    descriptor = pathlib.Path(settings.edge_descriptor_path or REPO_DESCRIPTOR)
    # uvloop, as the payment service's workers: every REST body costs one Check call here.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run(f"{settings.edge_validator_host}:{settings.edge_validator_port}", descriptor))

