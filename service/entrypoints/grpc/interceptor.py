"""The one server interceptor: request context, span, metrics and the access log line of every RPC.

Every RPC of this service is unary (tests/unit/test_architecture.py checks the
protos), so there is one wrapper. For each call it reads the metadata once, then:

* sets the log context's request id (Envoy's `x-request-id`, or the caller's, which
  Envoy and the GraphQL gateway keep) and trace id (from W3C `traceparent`, then the
  server span's, which continues it);
* opens the server span and records the go-grpc-prometheus series
  (`grpc_server_started_total`, `grpc_server_handled_total`, `grpc_server_handling_seconds`,
  `grpc_server_msg_*_total`), with grpc_code spelled as grpc-go does ("OK", "NotFound", ...);
* counts the payment CreatePayment and ProcessPayment return in
  `payment_outcomes_total{operation,status,processor,currency}`, so the use cases need no
  metrics code (declines are outcomes with status FAILED; an unavailable processor shows
  up in grpc_server_handled_total's grpc_code);
* answers a request whose bytes do not decode (a string field that is not UTF-8) with
  INVALID_ARGUMENT naming the field (decoding.py), not grpcio's UNKNOWN and ERROR line;
* logs one `rpc` line with the method, code, duration, user agent and the caller's API key id
  (health checks are not logged). Authentication stays in the servicer, which reads the same metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc

from common.logs import request_id_var, trace_id_from_traceparent, trace_id_var

from ...gen.payment.v1 import payment_pb2 as pb
from ...gen.payment.v1 import webhook_pb2
from ...observability import metrics, tracing
from ...service_layer.audit import current_actor
from .decoding import Undecodable, lenient
from .errors import abort, status_for

log = logging.getLogger("payment.access")

UNARY = "unary"
_NOT_LOGGED = "/grpc.health.v1.Health/"


def unary_methods() -> list[tuple[str, str, str]]:
    """(grpc_type, service, method) of every RPC this service defines in its protos."""
    return [(UNARY, service.full_name, method.name)
            for descriptor in (pb.DESCRIPTOR, webhook_pb2.DESCRIPTOR)
            for service in descriptor.services_by_name.values() for method in service.methods]


def code_label(code: grpc.StatusCode) -> str:
    """The code as Go's grpc-go spells it ("OK", "NotFound", "Canceled"), as go-grpc-prometheus does."""
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "OK" if code is grpc.StatusCode.OK else code.name.title().replace("_", "")


def final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def record_outcome(method: str, request: Any, response: Any) -> None:
    """Count the payment a CreatePayment / ProcessPayment call returned."""
    if method == "CreatePayment":
        operation = "create"
    elif method == "ProcessPayment":
        operation = pb.PaymentAction.Name(request.action).lower()
    else:
        return
    payment = response.payment
    with contextlib.suppress(ValueError):  # an enum value newer than these stubs: not worth failing a call
        metrics.record_payment_outcome(operation, pb.PaymentStatus.Name(payment.status), payment.processor,
                                       payment.currency)


class MethodSeries:
    """The go-grpc-prometheus series of one method, looked up once (`labels()` costs a lock and a
    tuple per call; a method's series never change)."""

    def __init__(self, full_method: str) -> None:
        service, _, method = full_method.lstrip("/").partition("/")
        self.labels = {"grpc_type": UNARY, "grpc_service": service, "grpc_method": method}
        self.started = metrics.GRPC_STARTED.labels(**self.labels)
        self.received = metrics.GRPC_RECEIVED.labels(**self.labels)
        self.sent = metrics.GRPC_SENT.labels(**self.labels)
        self.seconds = metrics.GRPC_SECONDS.labels(**self.labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        series = self._handled.get(code)
        if series is None:
            series = self._handled[code] = metrics.GRPC_HANDLED.labels(**self.labels, grpc_code=code_label(code))
        return series


@functools.cache
def series_of(full_method: str) -> MethodSeries:
    """One MethodSeries per method name grpcio routed to a handler (a bounded set: the protos')."""
    return MethodSeries(full_method)


@dataclasses.dataclass
class Call:
    """What is known about one RPC while it runs."""

    full_method: str
    metadata: Mapping[str, str]

    @property
    def method(self) -> str:
        return self.full_method.rpartition("/")[2]

    @property
    def labels(self) -> dict[str, str]:
        return series_of(self.full_method).labels

    @contextlib.asynccontextmanager
    async def observed(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        request_id_var.set(self.metadata.get("x-request-id", ""))
        trace_id_var.set(trace_id_from_traceparent(self.metadata.get("traceparent", "")))
        series = series_of(self.full_method)
        series.started.inc()
        started = time.perf_counter()
        error: BaseException | None = None
        with tracing.server_span(self.full_method, self.metadata) as span:
            try:
                series.received.inc()
                yield
                series.sent.inc()
            except BaseException as exc:
                error = exc
                raise
            finally:
                code = final_code(context, error)
                tracing.end_server_span(span, code)
                elapsed = time.perf_counter() - started
                series.handled(code).inc()
                series.seconds.observe(elapsed)
                self.log(code, elapsed)

    def log(self, code: grpc.StatusCode, elapsed: float) -> None:
        if self.full_method.startswith(_NOT_LOGGED):
            return
        level = logging.WARNING if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) else logging.INFO
        if not log.isEnabledFor(level):
            return
        actor = current_actor()  # set by the servicer once the key is verified: its id, never the key
        log.log(level, "rpc", extra={"rpc": self.full_method, "grpc_code": code.name,
                                     "duration_ms": round(elapsed * 1000, 2),
                                     "user_agent": self.metadata.get("user-agent", ""),
                                     "api_key_id": actor.removeprefix("api_key:") if actor.startswith("api_key:")
                                     else ""})


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary handler with `Call.observed` (a streaming handler would pass unobserved:
    the architecture test fails first)."""

    def __init__(self) -> None:
        metrics.initialize_grpc(unary_methods())

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        pairs = handler_call_details.invocation_metadata or ()
        call = Call(handler_call_details.method, {k.lower(): v for k, v in pairs if isinstance(v, str)})
        inner = handler.unary_unary

        async def observed(request, context):
            async with call.observed(context):
                if isinstance(request, Undecodable):
                    await abort(context, status_for(request.error))
                response = await inner(request, context)
            record_outcome(call.method, request, response)
            return response

        return grpc.unary_unary_rpc_method_handler(observed, request_deserializer=lenient(handler.request_deserializer),
                                                   response_serializer=handler.response_serializer)
