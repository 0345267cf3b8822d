"""The gateway's only way to the payment service: one pooled gRPC channel, plus
the metadata forwarded from each HTTP request.

`PaymentClient.open()` creates the channel at start-up (in the ASGI lifespan),
`close()` drains it at shutdown; every request shares it. `call_metadata()`
turns the HTTP headers that matter into gRPC metadata: Authorization,
Idempotency-Key, x-request-id (generated when absent) and W3C traceparent /
tracestate. A failed call is translated here into an ApiError.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.logs import trace_id_from_traceparent
from service.gen.payment.v1 import events_pb2 as epb
from service.gen.payment.v1 import events_pb2_grpc, payment_pb2_grpc
from service.gen.payment.v1 import payment_pb2 as pb

from .errors import ApiError, from_rpc_error, invalid_argument

USER_AGENT = "payment-graphql/0.1.0"
CHANNEL_OPTIONS = (
    ("grpc.primary_user_agent", USER_AGENT),
    # With a headless Service every pod address is used, not only the first.
    ("grpc.lb_policy_name", "round_robin"),
)
PAYMENT_SERVICE = pb.DESCRIPTOR.services_by_name["PaymentService"].full_name
MAX_REQUEST_ID_LENGTH = 200
MAX_TRACESTATE_LENGTH = 512
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclasses.dataclass(frozen=True)
class CallMetadata:
    """What every gRPC call made for one HTTP request carries."""

    request_id: str
    trace_id: str
    pairs: tuple[tuple[str, str], ...]


def _sendable(value: str) -> bool:
    """gRPC accepts printable ASCII in text metadata."""
    return value.isascii() and value.isprintable()


def request_id_of(headers: Mapping[str, str]) -> str:
    """The caller's (or Envoy's) x-request-id when gRPC can carry it, else a new UUID."""
    given = headers.get("x-request-id", "").strip()
    if given and len(given) <= MAX_REQUEST_ID_LENGTH and _sendable(given):
        return given
    return str(uuid.uuid4())


def _valid_traceparent(value: str) -> bool:
    if not _TRACEPARENT.match(value):
        return False
    version, trace_id, parent_id, _ = value.split("-")
    return version != "ff" and trace_id != "0" * 32 and parent_id != "0" * 16


def _trace_context(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """traceparent when valid (W3C: otherwise restart the trace), tracestate only with it."""
    traceparent = headers.get("traceparent", "").strip().lower()
    if not _valid_traceparent(traceparent):
        return []
    pairs = [("traceparent", traceparent)]
    tracestate = headers.get("tracestate", "").strip()
    if tracestate and len(tracestate) <= MAX_TRACESTATE_LENGTH and _sendable(tracestate):
        pairs.append(("tracestate", tracestate))
    return pairs


def _authorization(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Passed unchanged (the service checks it); one gRPC cannot carry is UNAUTHENTICATED."""
    value = headers.get("authorization", "")
    if not value:
        return []
    if not _sendable(value):
        raise ApiError("authorization must be 'Bearer <api key>' in printable ASCII", "UNAUTHENTICATED",
                       reason="UNAUTHENTICATED")
    return [("authorization", value)]


def _idempotency_key(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Passed unchanged; one gRPC cannot carry is refused, never dropped (a retry must stay safe)."""
    value = headers.get("idempotency-key", "")
    if not value:
        return []
    if not _sendable(value):
        raise invalid_argument("Idempotency-Key", "must be printable ASCII")
    return [("idempotency-key", value)]


def call_metadata(headers: Mapping[str, str], request_id: str | None = None) -> CallMetadata:
    """The gRPC metadata for the HTTP request with these (lower-cased) headers.

    Raises ApiError when Authorization (UNAUTHENTICATED) or Idempotency-Key
    (INVALID_ARGUMENT) cannot be sent as gRPC metadata.
    """
    request_id = request_id or request_id_of(headers)
    pairs = [
        *_authorization(headers),
        *_idempotency_key(headers),
        ("x-request-id", request_id),
        *_trace_context(headers),
    ]
    traceparent = dict(pairs).get("traceparent", "")
    return CallMetadata(request_id, trace_id_from_traceparent(traceparent), tuple(pairs))


Method = Callable[..., Awaitable[Any]]


class PaymentClient:
    """PaymentService over one shared grpc.aio channel; failures become ApiError."""

    def __init__(self, target: str, timeout_seconds: float = 10.0) -> None:
        self.target = target
        self.timeout_seconds = timeout_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stub: payment_pb2_grpc.PaymentServiceStub | None = None
        self._health: health_pb2_grpc.HealthStub | None = None

    async def open(self) -> None:
        """Create the channel; must run inside the event loop that will use it."""
        self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self._stub = payment_pb2_grpc.PaymentServiceStub(self._channel)
        self._events = events_pb2_grpc.EventServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def close(self, grace_seconds: float | None = None) -> None:
        """Let in-flight calls finish (up to the grace period), then close the channel."""
        if self._channel is not None:
            await self._channel.close(grace_seconds)
            self._channel = self._stub = self._health = None

    @property
    def stub(self) -> payment_pb2_grpc.PaymentServiceStub:
        if self._stub is None:
            raise RuntimeError("PaymentClient is not open")
        return self._stub

    async def _call(self, method: Method, request: Any, metadata: CallMetadata) -> Any:
        try:
            return await method(request, metadata=metadata.pairs, timeout=self.timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc

    async def get_payment(self, request: pb.GetPaymentRequest, metadata: CallMetadata) -> pb.Payment:
        return (await self._call(self.stub.GetPayment, request, metadata)).payment

    async def list_payments(self, request: pb.ListPaymentsRequest,
                            metadata: CallMetadata) -> pb.ListPaymentsResponse:
        return await self._call(self.stub.ListPayments, request, metadata)

    async def create_payment(self, request: pb.CreatePaymentRequest, metadata: CallMetadata) -> pb.Payment:
        return (await self._call(self.stub.CreatePayment, request, metadata)).payment

    async def process_payment(self, request: pb.ProcessPaymentRequest, metadata: CallMetadata) -> pb.Payment:
        return (await self._call(self.stub.ProcessPayment, request, metadata)).payment

    async def get_event(self, request: epb.GetEventRequest, metadata: CallMetadata) -> epb.Event:
        return (await self._call(self._events.GetEvent, request, metadata)).event

    async def list_events(self, request: epb.ListEventsRequest, metadata: CallMetadata) -> epb.ListEventsResponse:
        return await self._call(self._events.ListEvents, request, metadata)

    async def ready(self, timeout_seconds: float = 1.0) -> bool:
        """Whether the payment service reports SERVING on grpc.health.v1."""
        if self._health is None:
            return False
        try:
            response = await self._health.Check(health_pb2.HealthCheckRequest(service=PAYMENT_SERVICE),
                                                timeout=timeout_seconds)
        except grpc.aio.AioRpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

