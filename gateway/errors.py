"""How the gateway reports errors: every GraphQL error carries `extensions.code`.

A gRPC failure keeps its meaning: `code` is the gRPC status code name
(NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, ...), `reason` and `domain`
come from the google.rpc.ErrorInfo in the `grpc-status-details-bin` trailer,
`field_violations` from google.rpc.BadRequest, `metadata` from ErrorInfo's
metadata (e.g. a decline_code). So GraphQL clients see the same reason REST
and gRPC clients do.

A query the gateway refuses before calling the API (syntax, validation, a
limit) is INVALID_ARGUMENT with a reason such as GRAPHQL_VALIDATION_FAILED or
QUERY_TOO_DEEP. Anything unexpected is logged with its traceback and leaves as
INTERNAL with the request id, never with a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from graphql import GraphQLError, GraphQLSyntaxError
from grpc_status import rpc_status
from strawberry.extensions import SchemaExtension

from common.logs import request_id_var

log = logging.getLogger(__name__)

DOMAIN = "payments.v1"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
_TOKEN_LIMIT_MESSAGE = "Document contains more than"
INTERNAL_EXTENSIONS = {"code": "INTERNAL", "reason": "INTERNAL", "domain": DOMAIN}

# A bare status (no details: the channel, not the service, failed) gets a
# message that tells the caller what to do and leaks no addresses.
_BARE: dict[grpc.StatusCode, tuple[str, str]] = {
    grpc.StatusCode.UNAVAILABLE: (
        "PAYMENT_SERVICE_UNAVAILABLE",
        "the payment service is unavailable; retry (writes: with the same Idempotency-Key or request_id)"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        "PAYMENT_SERVICE_TIMEOUT",
        "the payment service did not answer in time; retry (writes: with the same Idempotency-Key or request_id)"),
    grpc.StatusCode.UNKNOWN: ("INTERNAL", "the payment service failed"),
    grpc.StatusCode.INTERNAL: ("INTERNAL", "the payment service failed"),
}


class ApiError(GraphQLError):
    """An error meant for the caller, as it is: its extensions say what went wrong."""

    def __init__(self, message: str, code: str, *, reason: str = "", domain: str = DOMAIN,
                 field_violations: Iterable[Mapping[str, str]] = (),
                 metadata: Mapping[str, str] | None = None) -> None:
        extensions: dict[str, Any] = {"code": code}
        if reason:
            extensions.update(reason=reason, domain=domain)
        violations = [dict(v) for v in field_violations]
        if violations:
            extensions["field_violations"] = violations
        if metadata:
            extensions["metadata"] = dict(metadata)
        super().__init__(message, extensions=extensions)


def invalid_argument(field: str, description: str, reason: str = INVALID_ARGUMENT) -> ApiError:
    """INVALID_ARGUMENT naming the field, shaped like the API's own BadRequest errors."""
    return ApiError(f"{field}: {description}", INVALID_ARGUMENT, reason=reason,
                    field_violations=[{"field": field, "description": description}])


def _details(status: status_pb2.Status) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            found["field_violations"] = [{"field": v.field, "description": v.description}
                                         for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found.update(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
    return found


def from_status(status: status_pb2.Status) -> ApiError:
    """A google.rpc.Status (with details) as the caller's GraphQL error."""
    return ApiError(status.message, code_pb2.Code.Name(status.code), **_details(status))


def _rich_status(exc: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(exc)
    except ValueError:  # trailer disagrees with the status line: trust the status line
        return None


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    """A failed gRPC call as the caller's GraphQL error."""
    status = _rich_status(exc)
    if status is not None:
        return from_status(status)
    code = exc.code()
    reason, message = _BARE.get(code, ("", exc.details() or code.name))
    return ApiError(message, code.name, reason=reason)


class InputValueError(ValueError):
    """A scalar refuses the caller's input value (graphql-core reports it as a validation error)."""


def is_unexpected(error: GraphQLError) -> bool:
    """A failure the caller did not cause and we did not mean: a bug, to be masked."""
    original = error.original_error
    if isinstance(original, ApiError | InputValueError):
        return False
    if error.path is not None:  # a resolver or a serializer raised
        return True
    return original is not None and not isinstance(original, GraphQLError)


def _request_reason(error: GraphQLError) -> str:
    if isinstance(error, GraphQLSyntaxError):
        return TOO_MANY_TOKENS if _TOKEN_LIMIT_MESSAGE in error.message else PARSE_FAILED
    return VALIDATION_FAILED


def internal_message() -> str:
    """What the caller reads about an unexpected failure: nothing but the request id to quote."""
    request_id = request_id_var.get()
    return f"internal error (request id {request_id})" if request_id else "internal error"


def masked(error: GraphQLError) -> GraphQLError:
    """The error as the caller sees an unexpected failure: INTERNAL and the request id."""
    return GraphQLError(internal_message(), error.nodes, error.source, error.positions, error.path,
                        extensions=dict(INTERNAL_EXTENSIONS))


_NAME_BEFORE_VALUE = re.compile(r"([_A-Za-z][_0-9A-Za-z]*)\s*:\s*$")


def input_field_of(error: GraphQLError) -> str:
    """The argument or input field whose inline value a scalar refused ("amount"), or ''.

    graphql-core points at the value only; the name is the one written before it.
    """
    if not isinstance(error.original_error, InputValueError) or not error.source or not error.positions:
        return ""
    found = _NAME_BEFORE_VALUE.search(error.source.body[:error.positions[0]][-200:])
    return found.group(1) if found else ""


def shaped(error: GraphQLError) -> GraphQLError:
    """Every error with extensions.code; unexpected ones masked."""
    if is_unexpected(error):
        return masked(error)
    if not (error.extensions or {}).get("code"):
        field = input_field_of(error)
        if field:
            error.message = f"{field}: {error.message}"
        error.extensions = {**(error.extensions or {}), "code": INVALID_ARGUMENT,
                            "reason": _request_reason(error), "domain": DOMAIN, **({"field": field} if field else {})}
    return error


def log_unexpected(errors: Iterable[GraphQLError]) -> None:
    """Log, with their tracebacks, the errors the caller will only see as INTERNAL."""
    for error in errors:
        if is_unexpected(error):
            original = error.original_error or error
            log.error("unexpected error in %s", ".".join(map(str, error.path or ())) or "operation",
                      exc_info=(type(original), original, original.__traceback__))


class ShapeErrors(SchemaExtension):
    """Shapes the operation's errors on the way out (see `shaped`)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [shaped(error) for error in result.errors]
