"""One grpc.aio server interceptor for metrics and traces of every RPC.

For each call it opens the server span (continuing `traceparent`), sets the
log context's trace id, and records the go-grpc-prometheus series
(`grpc_server_started_total`, `grpc_server_handled_total`,
`grpc_server_handling_seconds`, `grpc_server_msg_*_total`) for all four RPC
types, with grpc_code spelled as grpc-go does ("OK", "NotFound", ...).

For CreatePayment and ProcessPayment it also counts the returned payment in
`payment_outcomes_total{operation,status,processor,currency}`: payment
outcomes are counted here, from the responses, so the use cases need no
metrics code (declines are outcomes with status FAILED; errors such as an
unavailable processor show up in grpc_server_handled_total's grpc_code).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from ..gen.payment.v1 import payment_pb2 as pb
from ..gen.payment.v1 import webhook_pb2
from . import metrics, tracing

UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI_STREAM = "unary", "client_stream", "server_stream", "bidi_stream"


def grpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return BIDI_STREAM
    if handler.request_streaming:
        return CLIENT_STREAM
    if handler.response_streaming:
        return SERVER_STREAM
    return UNARY


def service_methods() -> list[tuple[str, str, str]]:
    """(grpc_type, service, method) of every RPC this service defines in its protos."""
    found = []
    for descriptor in (pb.DESCRIPTOR, webhook_pb2.DESCRIPTOR):
        for service in descriptor.services_by_name.values():
            for method in service.methods:
                kind = {(False, False): UNARY, (True, False): CLIENT_STREAM, (False, True): SERVER_STREAM,
                        (True, True): BIDI_STREAM}[(method.client_streaming, method.server_streaming)]
                found.append((kind, service.full_name, method.name))
    return found


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


@dataclasses.dataclass
class Call:
    """What is known about one RPC while it runs."""

    grpc_type: str
    service: str
    method: str
    metadata: Mapping[str, str]

    @property
    def labels(self) -> dict[str, str]:
        return {"grpc_type": self.grpc_type, "grpc_service": self.service, "grpc_method": self.method}

    @contextlib.asynccontextmanager
    async def observed(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        labels = self.labels
        metrics.GRPC_STARTED.labels(**labels).inc()
        started = time.perf_counter()
        error: BaseException | None = None
        with tracing.server_span(f"/{self.service}/{self.method}", self.metadata) as span:
            try:
                yield
            except BaseException as exc:
                error = exc
                raise
            finally:
                code = final_code(context, error)
                tracing.end_server_span(span, code)
                metrics.GRPC_HANDLED.labels(**labels, grpc_code=code_label(code)).inc()
                metrics.GRPC_SECONDS.labels(**labels).observe(time.perf_counter() - started)

    def received(self) -> None:
        metrics.GRPC_RECEIVED.labels(**self.labels).inc()

    def sent(self) -> None:
        metrics.GRPC_SENT.labels(**self.labels).inc()

    async def count_requests(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            self.received()
            yield request


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Metrics and a server span for every RPC (add it after the access log interceptor)."""

    def __init__(self) -> None:
        metrics.initialize_grpc(service_methods())

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        pairs = handler_call_details.invocation_metadata or ()
        metadata = {k.lower(): v for k, v in pairs if isinstance(v, str)}
        call = Call(grpc_type(handler), service, method, metadata)
        return _REWRAP[call.grpc_type](handler, call)


def _unary_unary(handler: grpc.RpcMethodHandler, call: Call) -> grpc.RpcMethodHandler:
    inner = handler.unary_unary

    async def observed(request, context):
        async with call.observed(context):
            call.received()
            response = await inner(request, context)
            call.sent()
        record_outcome(call.method, request, response)
        return response

    return grpc.unary_unary_rpc_method_handler(observed, *_serializers(handler))


def _stream_unary(handler: grpc.RpcMethodHandler, call: Call) -> grpc.RpcMethodHandler:
    inner = handler.stream_unary

    async def observed(requests, context):
        async with call.observed(context):
            response = await inner(call.count_requests(requests), context)
            call.sent()
        return response

    return grpc.stream_unary_rpc_method_handler(observed, *_serializers(handler))


def _serializers(handler: grpc.RpcMethodHandler) -> tuple[Any, Any]:
    return handler.request_deserializer, handler.response_serializer


async def _responses(call: Call, result: AsyncIterator[Any] | Awaitable[Any]) -> AsyncIterator[Any]:
    """Relay a streaming handler's responses (an async generator, or context.write calls)."""
    if hasattr(result, "__aiter__"):
        async for response in result:
            call.sent()
            yield response
    else:
        await result


def _unary_stream(handler: grpc.RpcMethodHandler, call: Call) -> grpc.RpcMethodHandler:
    inner = handler.unary_stream

    async def observed(request, context):
        async with call.observed(context):
            call.received()
            async for response in _responses(call, inner(request, context)):
                yield response

    return grpc.unary_stream_rpc_method_handler(observed, *_serializers(handler))


def _stream_stream(handler: grpc.RpcMethodHandler, call: Call) -> grpc.RpcMethodHandler:
    inner = handler.stream_stream

    async def observed(requests, context):
        async with call.observed(context):
            async for response in _responses(call, inner(call.count_requests(requests), context)):
                yield response

    return grpc.stream_stream_rpc_method_handler(observed, *_serializers(handler))


_REWRAP: dict[str, Callable[[grpc.RpcMethodHandler, Call], grpc.RpcMethodHandler]] = {
    UNARY: _unary_unary, CLIENT_STREAM: _stream_unary,
    SERVER_STREAM: _unary_stream, BIDI_STREAM: _stream_stream,
}
