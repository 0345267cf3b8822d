"""Typed exceptions for the payment service's gRPC statuses.

The service sends every error as a `google.rpc.Status` in the `grpc-status-details-bin`
trailer: an `ErrorInfo` with a stable `reason` (e.g. `IDEMPOTENCY_KEY_REUSED`,
`PAYMENT_DECLINED`) and, for a broken field rule, a `BadRequest` naming the field. Each
gRPC code maps to one exception class (`CLASSES`, exhaustive over `grpc.StatusCode`), and
the exception carries the reason, the ErrorInfo metadata and the field violations, so
callers branch on `except NotFound` or on `err.reason`, never on message text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_TRAILER = "grpc-status-details-bin"


@dataclasses.dataclass(frozen=True)
class FieldViolation:
    """One broken field rule: the field's path and what is wrong with it."""

    field: str
    description: str


class PaymentServiceError(Exception):
    """A call the service (or the transport to it) answered with a non-OK gRPC status.

    `code` is the gRPC status code, `message` the service's message (it names the field or
    rule), `reason` and `domain` come from the ErrorInfo detail ("" when there is none, e.g.
    a transport failure), `metadata` is the ErrorInfo's map (e.g. `decline_code`),
    `field_violations` the BadRequest's, and `attempts` how many times the call was sent.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str = "", domain: str = "",
                 metadata: dict[str, str] | None = None,
                 field_violations: tuple[FieldViolation, ...] = (), attempts: int = 1) -> None:
        super().__init__(f"{code.name}: {message}" + (f" [{reason}]" if reason else ""))
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.field_violations = tuple(field_violations)
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        """Whether the client retries this code (with the same idempotency key)."""
        return self.code in RETRYABLE


class Cancelled(PaymentServiceError): ...
class Unknown(PaymentServiceError): ...
class InvalidArgument(PaymentServiceError): ...
class DeadlineExceeded(PaymentServiceError): ...
class NotFound(PaymentServiceError): ...
class AlreadyExists(PaymentServiceError): ...
class PermissionDenied(PaymentServiceError): ...
class ResourceExhausted(PaymentServiceError): ...
class FailedPrecondition(PaymentServiceError): ...
class Aborted(PaymentServiceError): ...
class OutOfRange(PaymentServiceError): ...
class Unimplemented(PaymentServiceError): ...
class Internal(PaymentServiceError): ...
class Unavailable(PaymentServiceError): ...
class DataLoss(PaymentServiceError): ...
class Unauthenticated(PaymentServiceError): ...


CLASSES: dict[grpc.StatusCode, type[PaymentServiceError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNKNOWN: Unknown,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}

# google/rpc/code.proto: UNAVAILABLE and ABORTED are the codes a client retries (the call
# did not happen, or lost a race); everything else is an answer. Creates and processes are
# retried with the same idempotency key, so a retry never pays twice.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})


def _details(trailers: Iterable[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    for key, value in trailers or ():
        if key == DETAILS_TRAILER and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def from_status(code: grpc.StatusCode, message: str, trailers, attempts: int = 1) -> PaymentServiceError:
    """The typed exception for a status and its trailing metadata."""
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    status = _details(trailers)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
    cls = CLASSES.get(code, Unknown)
    return cls(code, message, reason=reason, domain=domain, metadata=metadata,
               field_violations=tuple(violations), attempts=attempts)


def from_rpc_error(error: grpc.RpcError, attempts: int = 1) -> PaymentServiceError:
    """Translate a sync (`grpc.RpcError`) or async (`grpc.aio.AioRpcError`) error."""
    return from_status(error.code(), error.details() or "", error.trailing_metadata(), attempts)
