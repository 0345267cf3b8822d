"""Spans cost CPU only when something will receive them: a dependency call under a dropped
span starts no span at all (the caller gets the non-recording INVALID_SPAN), and a recorded
parent still gets its child (tests/integration/test_metrics.py checks the exported tree)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from service.observability import tracing

DROPPED = NonRecordingSpan(SpanContext(trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7,
                                       is_remote=True, trace_flags=TraceFlags(0)))


def test_a_dependency_call_under_a_dropped_span_starts_no_span():
    with trace.use_span(DROPPED), tracing.client_span("redis GET", {"db.system": "redis"}) as span:
        assert span is trace.INVALID_SPAN
        assert trace.get_current_span() is DROPPED, "the dropped parent stays the current span"
        span.set_attribute("error.type", "timeout")  # what callers do: harmless on a non-recording span


def test_an_exception_under_a_dropped_span_still_reaches_the_caller():
    try:
        with trace.use_span(DROPPED), tracing.client_span("processor authorize", {}):
            raise TimeoutError("slow processor")
    except TimeoutError as exc:
        assert str(exc) == "slow processor"
    else:
        raise AssertionError("the exception was swallowed")


def test_a_recorded_parent_still_gets_its_client_span(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with provider.get_tracer("test").start_as_current_span("GetPayment") as parent:
        with tracing.client_span("redis GET", {"db.system": "redis"}) as child:
            assert child.is_recording()
    names = {span.name: span for span in exporter.get_finished_spans()}
    assert names["redis GET"].parent.span_id == parent.get_span_context().span_id
