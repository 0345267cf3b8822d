"""Domain errors -> gRPC statuses with google.rpc details.

Codes follow google/rpc/code.proto: a broken field rule is INVALID_ARGUMENT
(BadRequest detail naming the field); a state that forbids the action is
FAILED_PRECONDITION; a conflict the caller should retry is ABORTED; a
dependency being down is UNAVAILABLE. Every non-validation error carries an
ErrorInfo with a stable reason, so REST, gRPC and GraphQL clients see the same
reason. HTTP numbers never appear inside a gRPC error.
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ...config import ConfigError
from ...domain import errors

DOMAIN = "payments.v1"

_CODES: list[tuple[type[Exception], int]] = [
    (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (errors.Unauthenticated, code_pb2.UNAUTHENTICATED),
    (errors.NotFound, code_pb2.NOT_FOUND),
    (errors.IllegalTransition, code_pb2.FAILED_PRECONDITION),
    (errors.IdempotencyKeyReused, code_pb2.FAILED_PRECONDITION),
    (errors.IdempotencyKeyInUse, code_pb2.ABORTED),
    (errors.ConcurrentUpdate, code_pb2.ABORTED),
    (errors.Unavailable, code_pb2.UNAVAILABLE),
    (errors.ProcessorDeclined, code_pb2.FAILED_PRECONDITION),
    (errors.ProcessorInvalidRequest, code_pb2.FAILED_PRECONDITION),
    (errors.ProcessorUnavailable, code_pb2.UNAVAILABLE),
    (errors.ProcessorOutcomeUnknown, code_pb2.UNAVAILABLE),
    (ConfigError, code_pb2.FAILED_PRECONDITION),
]


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_for(exc: errors.PaymentError) -> status_pb2.Status:
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), code_pb2.INTERNAL)
    details = [_pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN))]
    if isinstance(exc, errors.InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.description)
        details.insert(0, _pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if isinstance(exc, errors.ProcessorDeclined):
        details[-1].Pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN,
                                                     metadata={"decline_code": exc.code}))
    return status_pb2.Status(code=code, message=exc.message, details=details)


def unavailable(message: str, reason: str = "DATABASE_UNAVAILABLE") -> status_pb2.Status:
    info = _pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[info])


def internal(request_id: str) -> status_pb2.Status:
    info = _pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))
    suffix = f" (request id {request_id})" if request_id else ""
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error" + suffix, details=[info])


def is_database_unavailable(exc: BaseException) -> bool:
    """Connection-level failures of PostgreSQL (not query errors)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, ConnectionError, OSError,
                        asyncio.TimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def abort(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    await context.abort_with_status(rpc_status.to_status(status))
