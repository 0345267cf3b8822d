"""OpenTelemetry traces: a server span per RPC, client spans for SQL, Redis and processors.

`configure(settings)` installs the SDK tracer provider once per process, so
every call gets a real trace id (continued from the caller's W3C `traceparent`,
or new) even when nothing is exported. Spans are exported over OTLP/gRPC only
when OTEL_EXPORTER_OTLP_ENDPOINT is set; OTEL_SERVICE_NAME and the other
standard OTEL_* variables are honoured by the SDK.

Spans cost CPU on every call (a server span, one per SQL statement, Redis and
processor calls), so they are recorded only when something will receive them:
the provider's sampler (`WhenExported`) drops every span until a span processor
(the OTLP exporter, or a test's in-memory one) is added, and then follows the
caller's sampling decision (ParentBased, ALWAYS_ON at the root). A dropped span
still has its trace id, so log lines keep it; SQL statements under a dropped span
make no span at all.

Spans carry no card data, API keys or request bodies. SQL spans carry the
statement text, which holds bind placeholders, never values.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from common.logs import trace_id_var

from ..config import Settings

log = logging.getLogger(__name__)

INSTRUMENTATION = "service.observability"
# Server spans are errors only for these codes (OpenTelemetry gRPC conventions).
SERVER_ERROR_CODES = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})
_SPAN_ATTRIBUTE = "_payment_otel_span"
_exporting_to: set[str] = set()


class WhenExported(Sampler):
    """Drop every span until the provider has a span processor; then sample as ParentBased(ALWAYS_ON)."""

    def __init__(self) -> None:
        self.exporting = False
        self._then = ParentBased(ALWAYS_ON)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        if not self.exporting:
            return SamplingResult(Decision.DROP)
        return self._then.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "WhenExported{" + self._then.get_description() + "}"


class ExportingTracerProvider(TracerProvider):
    """A TracerProvider whose sampler records spans only once a span processor receives them."""

    def __init__(self, resource: Resource) -> None:
        self.when_exported = WhenExported()
        super().__init__(resource=resource, sampler=self.when_exported)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.when_exported.exporting = True


def configure(settings: Settings) -> TracerProvider:
    """The process's SDK tracer provider, created on first use; exports when an endpoint is set."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        resource = Resource.create({"service.name": settings.otel_service_name,
                                    "service.version": settings.version})
        provider = ExportingTracerProvider(resource)
        trace.set_tracer_provider(provider)
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint and endpoint not in _exporting_to:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _exporting_to.add(endpoint)
        log.info("exporting traces over OTLP", extra={"endpoint": endpoint})
    return provider


def tracer() -> trace.Tracer:
    return _tracer_of(trace.get_tracer_provider())


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    """The provider's tracer, made once (get_tracer builds a new instrumentation scope every call)."""
    return provider.get_tracer(INSTRUMENTATION)


def current_trace_id() -> str:
    """The active span's trace id as 32 hex digits, or '' outside any span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else ""


@contextlib.contextmanager
def server_span(full_method: str, metadata: Mapping[str, str]) -> Iterator[trace.Span]:
    """The span of one incoming RPC, continuing the caller's `traceparent` when there is one.

    Sets the log context's trace id, so every log line of the call carries it.
    """
    service, _, method = full_method.lstrip("/").partition("/")
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    parent = propagate.extract(dict(metadata))
    with tracer().start_as_current_span(full_method.lstrip("/"), context=parent, kind=SpanKind.SERVER,
                                        attributes=attributes, record_exception=False,
                                        set_status_on_exception=False) as span:
        trace_id_var.set(current_trace_id())
        yield span


def end_server_span(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in SERVER_ERROR_CODES:
        span.set_status(Status(StatusCode.ERROR, code.name))


@contextlib.contextmanager
def client_span(name: str, attributes: Mapping[str, Any]) -> Iterator[trace.Span]:
    """A child span for a call to a dependency; an exception marks it as failed.

    Under a dropped span (nothing exported) the span would be dropped too: none is started,
    and the caller gets the non-recording INVALID_SPAN (its setters do nothing)."""
    if not _recording():
        yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes)) as span:
        yield span


def _recording() -> bool:
    """True when a span started here would be recorded: under a recorded span, or as a root that is."""
    return trace.get_current_span().is_recording() or _records_roots()


# ---- SQL -------------------------------------------------------------------


def instrument_engine(engine: AsyncEngine) -> None:
    """A client span per SQL statement, through SQLAlchemy's cursor events (idempotent)."""
    sync_engine = engine.sync_engine
    if event.contains(sync_engine, "before_cursor_execute", _before_execute):
        return
    event.listen(sync_engine, "before_cursor_execute", _before_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_execute)
    event.listen(sync_engine, "handle_error", _on_error)


def _operation(statement: str) -> str:
    """The statement's verb; a WITH statement whose CTEs write is named by its first write (the
    write path sends a new payment with its events as one statement: its span is an INSERT)."""
    words = statement.split(None, 1)
    verb = words[0].upper() if words else "SQL"
    if verb == "WITH" and (write := _CTE_WRITE.search(statement)) is not None:
        return write.group(1).upper()
    return verb


_CTE_WRITE = re.compile(r"\bAS\s*\(\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _before_execute(conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
    if not _recording():  # inside a dropped span (or none, with nothing exported)
        return
    operation = _operation(statement)
    span = tracer().start_span(operation, kind=SpanKind.CLIENT, attributes={
        "db.system": "postgresql", "db.operation": operation, "db.statement": statement[:2000]})
    if context is not None:
        setattr(context, _SPAN_ATTRIBUTE, span)


def _records_roots() -> bool:
    """True when a span started outside any recorded span would be recorded (something exports)."""
    if trace.get_current_span().get_span_context().is_valid:
        return False  # a dropped parent: its children are dropped too (ParentBased)
    provider = trace.get_tracer_provider()
    return getattr(getattr(provider, "when_exported", None), "exporting", True)


def _after_execute(conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
    span = getattr(context, _SPAN_ATTRIBUTE, None)
    if span is not None:
        span.end()
        setattr(context, _SPAN_ATTRIBUTE, None)


def _on_error(exception_context) -> None:
    context = exception_context.execution_context
    span = getattr(context, _SPAN_ATTRIBUTE, None)
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, type(exception_context.original_exception).__name__))
        span.end()
        setattr(context, _SPAN_ATTRIBUTE, None)
