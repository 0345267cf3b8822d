"""Observability: Prometheus metrics, OpenTelemetry traces, and their wiring into the app.

`install(app)` is called once by the composition root: it adds the gRPC
interceptor (server span, go-grpc-prometheus metrics, payment outcomes), SQL
spans and pool gauges on the engine, and a closer that flushes spans.
Processor adapters are wrapped by `instrument_processors` before the
dependencies are built. The metrics HTTP server is started by the gRPC
entrypoint (`metrics.start_http_server`), not here, so tests can build many apps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import metrics, tracing
from .processors import instrument_processors

if TYPE_CHECKING:
    from ..bootstrap import App

__all__ = ["install", "instrument_processors", "metrics", "tracing"]


def install(app: App) -> None:
    from .interceptor import ObservabilityInterceptor

    provider = tracing.configure(app.settings)
    app.interceptors.append(ObservabilityInterceptor())
    app.closers.append(provider.force_flush)
    metrics.initialize_webhooks()
    if app.engine is not None:
        tracing.instrument_engine(app.engine)
        metrics.watch_pool(app.engine)
