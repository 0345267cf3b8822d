"""Observability: Prometheus metrics and OpenTelemetry traces.

The composition root calls `start(settings, engine)` once: it configures the
tracer provider, SQL spans and pool gauges on the engine, and returns the flush
to run on shutdown. Processor adapters are wrapped by `instrument_processors`
before the dependencies are built. The gRPC entrypoint adds the server
interceptor (span, go-grpc-prometheus metrics, access log) and starts the
metrics HTTP server (`metrics.start_http_server`), so tests can build many apps.
This package imports nothing of the composition root, so there is no cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from ..config import Settings
from . import metrics, tracing
from .processors import instrument_processors

__all__ = ["instrument_processors", "metrics", "start", "tracing"]


def start(settings: Settings, engine: AsyncEngine | None) -> Callable[[], object]:
    """Traces (exported when configured), SQL spans and pool gauges; returns the flush for shutdown."""
    provider = tracing.configure(settings)
    metrics.initialize_webhooks()
    if engine is not None:
        tracing.instrument_engine(engine)
        metrics.watch_pool(engine)
    return provider.force_flush
