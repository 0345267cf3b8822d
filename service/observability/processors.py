"""Processor calls, measured at the port: latency, errors and a client span per call.

`instrument_processors(lookup)` wraps a ProcessorLookup so that every adapter it
hands out is an `InstrumentedProcessor`: the same PaymentProcessor port, plus
`payment_processor_request_duration_seconds{processor,operation}`,
`payment_processor_errors_total{processor,operation,error}` and a span named
``processor <operation>``. Anything else an adapter offers (e.g. webhook
verification) passes through untouched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..domain import errors
from ..domain.processor import PaymentProcessor
from . import metrics, tracing

T = TypeVar("T")

OPERATIONS = ("authorize", "capture", "refund", "cancel", "retrieve")

_ERROR_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (errors.ProcessorDeclined, "declined"),
    (errors.ProcessorInvalidRequest, "invalid_request"),
    (errors.ProcessorUnavailable, "unavailable"),
    (errors.ProcessorOutcomeUnknown, "outcome_unknown"),
)


def error_kind(exc: BaseException) -> str:
    return next((kind for cls, kind in _ERROR_KINDS if isinstance(exc, cls)), "unexpected")


class InstrumentedProcessor:
    """A PaymentProcessor that measures each call to the one it wraps."""

    def __init__(self, inner: PaymentProcessor, name: str) -> None:
        self._inner = inner
        self.name = getattr(inner, "name", name) or name
        metrics.initialize_processor(self.name, OPERATIONS)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)

    async def _measure(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        attributes = {"payment.processor": self.name, "payment.processor.operation": operation}
        with tracing.client_span(f"processor {operation}", attributes) as span:
            try:
                return await call()
            except BaseException as exc:
                kind = error_kind(exc)
                metrics.PROCESSOR_ERRORS.labels(processor=self.name, operation=operation, error=kind).inc()
                span.set_attribute("error.type", kind)
                raise
            finally:
                metrics.PROCESSOR_SECONDS.labels(processor=self.name, operation=operation).observe(
                    time.perf_counter() - started)

    async def authorize(self, request, *, idempotency_key: str):
        return await self._measure("authorize", lambda: self._inner.authorize(
            request, idempotency_key=idempotency_key))

    async def capture(self, reference: str, amount: int, *, idempotency_key: str):
        return await self._measure("capture", lambda: self._inner.capture(
            reference, amount, idempotency_key=idempotency_key))

    async def refund(self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""):
        return await self._measure("refund", lambda: self._inner.refund(
            reference, amount, idempotency_key=idempotency_key, reason=reason))

    async def cancel(self, reference: str, *, idempotency_key: str):
        return await self._measure("cancel", lambda: self._inner.cancel(
            reference, idempotency_key=idempotency_key))

    async def retrieve(self, reference: str):
        return await self._measure("retrieve", lambda: self._inner.retrieve(reference))


class InstrumentedProcessors:
    """A ProcessorLookup whose adapters are instrumented; everything else is delegated."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._wrapped: dict[int, InstrumentedProcessor] = {}

    @property
    def default(self) -> str:
        return self._inner.default

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)

    def __contains__(self, name: object) -> bool:
        return name in self._inner

    def get(self, name: str | None = None) -> PaymentProcessor:
        processor = self._inner.get(name) if name is not None else self._inner.get(self.default)
        wrapped = self._wrapped.get(id(processor))
        if wrapped is None or wrapped._inner is not processor:
            wrapped = InstrumentedProcessor(processor, name or self.default)
            self._wrapped[id(processor)] = wrapped
        return wrapped  # type: ignore[return-value]


def instrument_processors(lookup: Any) -> InstrumentedProcessors:
    if isinstance(lookup, InstrumentedProcessors):
        return lookup
    return InstrumentedProcessors(lookup)
