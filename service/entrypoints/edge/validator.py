"""The edge's body validator: Envoy's ext_authz filter asks it about every REST body.

Envoy buffers a REST request's body (up to the route's limit), then sends it here over plain
HTTP/1.1 (ext_authz `http_service`): the original method, `/check` + the original path (query
included) and the raw body bytes. A 200 lets the request on; a refusal is a 400 (404 for a body
at a path no RPC binds) whose body is the same JSON `google.rpc.Status` with `BadRequest` field
violations the service returns, which Envoy hands to the client as it is (status, body and
`content-type`), so it is decided before anything is written. Envoy sends no other headers than
`content-type` and `x-request-id` (`allowed_headers`; `disallowed_headers` keeps the
`authorization` header Envoy would add by default out), so API keys never reach this process.
`GET /healthz` answers 200 for the probes.

Why HTTP/1.1 and not the gRPC `Check` it answered before: every REST create paid for one call
here, and grpc.aio's per-call cost was ~98% of this process's CPU (docs/performance.md). A
request here is parsed and answered in one event-loop turn (http11.py).

It runs as its own small process (`payment-service edge-validator`): next to Envoy on
loopback in the local stack, as a sidecar in the Envoy pod in the cluster. Not in the
payment service: parsing up to 1 MiB of untrusted JSON before authentication must not
compete with payments for the service's event loop, and a validator fault must not take the
payment API down. Envoy fails closed: while this process is down (or answers 5xx), bodies are
refused with 503 (envoy/envoy.yaml, `status_on_error`) and GETs and native gRPC, which it never
sees, carry on.

Only keys are judged here (body_rules.py); values stay the transcoder's and the service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import signal

from ...config import Settings
from ..event_loop import event_loop_factory
from .body_rules import BodyRules, Violation
from .http11 import Limits, Request, Response, Server

log = logging.getLogger("service.edge.validator")
REPO_DESCRIPTOR = pathlib.Path(__file__).resolve().parents[3] / "envoy" / "payment.pb"
# Envoy's ext_authz `http_service.path_prefix`: every check is /check/<the original path>.
CHECK_PREFIX = "/check"
JSON = "application/json"
# google.rpc.Code values used here.
INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, INTERNAL, UNIMPLEMENTED = 3, 5, 8, 13, 12
HTTP_TO_CODE = {400: INVALID_ARGUMENT, 404: NOT_FOUND, 413: RESOURCE_EXHAUSTED, 431: RESOURCE_EXHAUSTED,
                500: INTERNAL, 501: UNIMPLEMENTED}


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


def status_response(status: int, message: str) -> Response:
    """A JSON google.rpc.Status answer for a request this process itself cannot take."""
    body = json.dumps({"code": HTTP_TO_CODE.get(status, INTERNAL), "message": f"edge validator: {message}"})
    return Response(status, body.encode(), JSON)


class BodyValidator:
    """The HTTP handler: 200, or a denial carrying the JSON error for the first bad key."""

    def __init__(self, rules: BodyRules) -> None:
        self.rules = rules

    def __call__(self, request: Request) -> Response:
        if not request.target.startswith(CHECK_PREFIX + "/"):
            if request.target == "/healthz" and request.method in ("GET", "HEAD"):
                return Response(200, b"ok\n", "text/plain")
            return status_response(404, "only /check/... and GET /healthz are served here")
        if request.headers.get("x-envoy-auth-partial-body") == "true":  # never with allow_partial_message off
            return status_response(413, "only whole bodies are checked")
        path = request.target[len(CHECK_PREFIX):]
        violation = self.rules.check(request.method, path, request.body)
        if violation is None:
            return Response(200)
        not_bound = violation.reason == "NO_BINDING"
        status, code = (404, NOT_FOUND) if not_bound else (400, INVALID_ARGUMENT)
        # The field path only: never values, and keys are already shortened by body_rules.
        log.info("request body refused", extra={"reason": violation.reason,
                                                "request_id": request.headers.get("x-request-id", ""),
                                                "method": request.method, "bytes": len(request.body)})
        return Response(status, refusal_body(violation, code).encode(), JSON)


async def create_server(host: str, port: int, rules: BodyRules | None = None,
                        descriptor: pathlib.Path = REPO_DESCRIPTOR,
                        max_body: int = Limits.max_body) -> tuple[Server, int]:
    """The validator listening on `host`:`port` (0 binds a free port); returns it and its port."""
    rules = rules or BodyRules.from_descriptor_set(descriptor.read_bytes())
    server = Server(BodyValidator(rules), status_response, Limits(max_body=max_body))
    try:
        bound = await server.start(host, port)
    except OSError as exc:
        raise OSError(f"cannot bind the edge validator to {host}:{port}: {exc.strerror}") from exc
    return server, bound


async def run(host: str, port: int, descriptor: pathlib.Path, max_body: int) -> None:
    server, bound = await create_server(host, port, descriptor=descriptor, max_body=max_body)
    log.info("edge validator listening", extra={"address": host, "port": bound, "protocol": "HTTP/1.1",
                                                "descriptor": str(descriptor), "max_body_bytes": max_body})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(5)


def serve(settings: Settings) -> None:
    descriptor = pathlib.Path(settings.edge_descriptor_path or REPO_DESCRIPTOR)
    # uvloop, as the payment service's workers: every REST body costs one check here.
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run(settings.edge_validator_host, settings.edge_validator_port, descriptor,
                       settings.edge_validator_max_body_bytes))
