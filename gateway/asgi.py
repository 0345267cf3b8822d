"""The gateway's HTTP layer, a plain ASGI app (run by uvicorn).

    POST /graphql   {"query", "variables", "operationName"} as application/json
    GET  /graphql   the GraphiQL page when GRAPHIQL_ENABLED, else 405; its scripts and styles
                    under /graphql/assets and /graphql/graphiql (static.py, local files only)
    GET  /healthz   liveness: the process serves HTTP
    GET  /readyz    readiness: the payment service answers grpc.health.v1 SERVING
    GET  /openapi.json, /docs   the API docs and their assets (static.py)

The body is refused with 413 past GRAPHQL_MAX_BODY_BYTES, before it is read
when Content-Length says so. Every response carries `x-request-id`, and one
JSON log line per request records method, path, status, operation, outcome
and duration (never headers, queries or variables). The lifespan opens the
pooled gRPC channel and the metrics server, and closes both at shutdown.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import strawberry
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from common.logs import request_id_var, trace_id_from_traceparent, trace_id_var

from .client import PaymentClient, call_metadata, request_id_of
from .config import GraphQLSettings
from .errors import (
    DOMAIN,
    INTERNAL_EXTENSIONS,
    INVALID_ARGUMENT,
    VALIDATION_FAILED,
    ApiError,
    internal_message,
)
from .limits import BODY_TOO_LARGE, precheck
from .metrics import Metrics, outcome_of
from .schema import RequestContext
from .static import GRAPHIQL_PAGE, StaticFiles

log = logging.getLogger(__name__)
access_log = logging.getLogger("graphql.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

GRAPHQL_PATH = "/graphql"
PROBES = frozenset({"/healthz", "/readyz"})
ALLOWED_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
BAD_REQUEST = "BAD_REQUEST"
DUPLICATE_JSON_KEY = "DUPLICATE_JSON_KEY"
INVALID_UNICODE = "INVALID_UNICODE"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


class RequestError(Exception):
    """The HTTP request cannot be a GraphQL request; `status`, `code` and `reason` say why."""

    def __init__(self, status: int, message: str, reason: str = BAD_REQUEST, code: str = INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.code = status, message, reason, code


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, headers=headers)


def headers_of(scope: Scope) -> dict[str, str]:
    """Lower-cased header names; repeated headers joined with ', ' (RFC 9110)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The request body, or RequestError(413) as soon as it is known to exceed `limit`."""
    too_large = RequestError(413, f"request body exceeds {limit} bytes (GRAPHQL_MAX_BODY_BYTES)", BODY_TOO_LARGE)
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (otherwise the last one would silently win)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def lone_surrogate_at(payload: Any) -> str | None:
    """The JSON path of the first string (or key) holding a lone UTF-16 surrogate ("\\udfff"), or None.

    JSON's escapes can spell one, Python keeps it, and it cannot be encoded as
    UTF-8 for the gRPC call: refused here, naming where it is.
    """
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if not key.isascii() and _SURROGATE.search(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def parse_request(body: bytes) -> GraphQLRequest:
    """{"query": ..., "variables": {...}?, "operationName": ...?} or RequestError(400)."""
    try:
        payload = json.loads(body, object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        raise RequestError(400, f"the body repeats the JSON key {exc.key!r} (each key may appear once)",
                           DUPLICATE_JSON_KEY) from None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's stack
        raise RequestError(400, "the body is not valid JSON") from None
    where = lone_surrogate_at(payload)
    if where is not None:
        raise RequestError(400, f"{where} holds a lone UTF-16 surrogate (not a Unicode character)",
                           INVALID_UNICODE)
    if not isinstance(payload, dict):
        raise RequestError(400, "the body must be a JSON object (batched requests are not supported)")
    query, variables, name = payload.get("query"), payload.get("variables"), payload.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "'query' must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "'variables' must be a JSON object")
    if name is not None and not isinstance(name, str):
        raise RequestError(400, "'operationName' must be a string")
    return GraphQLRequest(query, variables, name or None)


Payload = tuple[int, dict[str, Any]]


def refused(error: RequestError) -> Payload:
    extensions = {"code": error.code, "reason": error.reason, "domain": DOMAIN}
    return error.status, {"errors": [{"message": error.message, "extensions": extensions}]}


def executed(data: Any, errors: list[dict[str, Any]]) -> Payload:
    """200 with `data` once execution started; 400 (500 if masked) without it when refused before."""
    if data is None:
        return (500 if outcome_of(200, errors) == "internal" else 400), {"errors": errors}
    return 200, {"data": data, **({"errors": errors} if errors else {})}


@dataclasses.dataclass
class Exchange:
    """What one HTTP request did, for its log line and metrics."""

    method: str
    path: str
    request_id: str
    started: float = dataclasses.field(default_factory=time.perf_counter)
    status: int = 0
    operation: str | None = None
    outcome: str = ""

    def seconds(self) -> float:
        return time.perf_counter() - self.started


class GraphQLApp:
    """ASGI application: routes, body limit, GraphiQL, health and lifespan."""

    def __init__(self, settings: GraphQLSettings, schema: strawberry.Schema, client: PaymentClient,
                 metrics: Metrics, static: StaticFiles | None = None) -> None:
        self.settings, self.schema, self.client, self.metrics = settings, schema, client, metrics
        self.static = static or StaticFiles({}, {})
        self.metrics_port: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def startup(self) -> None:
        await self.client.open()
        self.metrics_port = self.metrics.serve(self.settings.host, self.settings.metrics_port)
        log.info("graphql gateway ready", extra={"grpc_target": self.client.target,
                                                 "metrics_port": self.metrics_port,
                                                 "graphiql": self.settings.graphiql,
                                                 "introspection": self.settings.introspection})

    async def shutdown(self) -> None:
        await self.client.close(self.settings.shutdown_grace_seconds)
        self.metrics.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        exchange = Exchange(scope["method"], scope["path"], request_id_of(headers))
        request_id_var.set(exchange.request_id)
        trace_id_var.set(trace_id_from_traceparent(headers.get("traceparent", "").strip().lower()))
        response = await self._respond(scope, receive, headers, exchange)
        if response is None:
            exchange.status = 499
        else:
            exchange.status = response.status
            await self._send(send, response, exchange.request_id)
        self._record(exchange)

    async def _respond(self, scope: Scope, receive: Receive, headers: Mapping[str, str],
                       exchange: Exchange) -> Response | None:
        """The route's response; None when the client left; a masked 500 for a bug of ours."""
        try:
            return await self._route(scope, receive, headers, exchange)
        except ClientGone:
            return None
        except Exception:
            log.exception("unexpected error serving %s", exchange.path)
            exchange.outcome = "internal"
            return json_response(500, {"errors": [{"message": internal_message(),
                                                   "extensions": dict(INTERNAL_EXTENSIONS)}]})

    async def _route(self, scope: Scope, receive: Receive, headers: Mapping[str, str],
                     exchange: Exchange) -> Response:
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            return json_response(200, {"status": "ok"})
        if path == "/readyz":
            ready = await self.client.ready()
            return json_response(200 if ready else 503, {"status": "ok" if ready else "payment service not ready"})
        if path.rstrip("/") != GRAPHQL_PATH:
            static = self.static.respond(method, path)
            if static is not None:
                return Response(static.status, static.body, static.content_type, static.headers)
            status, payload = refused(RequestError(404, f"no route for {path}; use POST {GRAPHQL_PATH}",
                                                   "UNKNOWN_PATH", "NOT_FOUND"))
            return json_response(status, payload)
        if method == "POST":
            return await self._graphql(receive, headers, exchange)
        page = self.static.respond(method, GRAPHIQL_PAGE) if method in ("GET", "HEAD") else None
        if page is not None and self.settings.graphiql:
            return Response(page.status, page.body, page.content_type, page.headers)
        exchange.outcome = "rejected"
        status, payload = refused(RequestError(405, "send GraphQL requests with POST (GraphiQL is disabled)",
                                               "METHOD_NOT_ALLOWED"))
        return json_response(status, payload, headers=(("allow", "POST"),))

    async def _graphql(self, receive: Receive, headers: Mapping[str, str], exchange: Exchange) -> Response:
        try:
            status, payload = await self._execute(receive, headers, exchange)
        except RequestError as exc:
            status, payload = refused(exc)
        except ApiError as exc:
            status = 401 if exc.extensions["code"] == "UNAUTHENTICATED" else 400
            payload = {"errors": [exc.formatted]}
        except CannotGetOperationTypeError as exc:
            status, payload = refused(RequestError(400, exc.as_http_error_reason(), VALIDATION_FAILED))
        except InvalidOperationTypeError as exc:
            status, payload = refused(RequestError(400, exc.as_http_error_reason("POST"), VALIDATION_FAILED))
        exchange.outcome = outcome_of(status, payload.get("errors") or ())
        return json_response(status, payload)

    async def _execute(self, receive: Receive, headers: Mapping[str, str], exchange: Exchange) -> Payload:
        request = await self._read(receive, headers)
        exchange.operation = request.operation_name
        over = precheck(request.query, self.settings)
        if over:
            return 400, {"errors": [error.formatted for error in over]}
        context = RequestContext(self.client, call_metadata(headers, exchange.request_id))
        result = await self.schema.execute(request.query, variable_values=request.variables,
                                           context_value=context, operation_name=request.operation_name,
                                           allowed_operation_types=ALLOWED_OPERATIONS)
        exchange.operation = context.operation_name or exchange.operation
        return executed(result.data, [error.formatted for error in result.errors or ()])

    async def _read(self, receive: Receive, headers: Mapping[str, str]) -> GraphQLRequest:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise RequestError(415, "send the request as Content-Type: application/json", "UNSUPPORTED_MEDIA_TYPE")
        return parse_request(await read_body(receive, headers, self.settings.max_body_bytes))

    @staticmethod
    async def _send(send: Send, response: Response, request_id: str) -> None:
        cached = any(name == "cache-control" for name, _ in response.headers)
        headers = [(b"content-type", response.content_type.encode()),
                   (b"content-length", str(len(response.body)).encode()),
                   *(() if cached else ((b"cache-control", b"no-store"),)),
                   (b"x-request-id", request_id.encode()),
                   *((name.encode(), value.encode()) for name, value in response.headers)]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    def _record(self, exchange: Exchange) -> None:
        """Metrics for GraphQL requests; one access line for every request but the probes."""
        seconds = exchange.seconds()
        if exchange.outcome:
            self.metrics.observe(exchange.operation, exchange.outcome, seconds)
        if exchange.path in PROBES:
            return
        level = logging.WARNING if exchange.status >= 500 else logging.INFO
        access_log.log(level, "request", extra={
            "method": exchange.method, "path": exchange.path, "status": exchange.status,
            "operation": exchange.operation or "", "outcome": exchange.outcome,
            "duration_ms": round(seconds * 1000, 2)})
