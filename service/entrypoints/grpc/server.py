"""The gRPC server: PaymentService, WebhookService, grpc.health.v1 and reflection.

`create_server(app, address)` returns the server and its bound port (tests use
port 0). `run(app, address)` serves until SIGTERM/SIGINT, then stops accepting
calls, lets in-flight calls finish (up to SHUTDOWN_GRACE_SECONDS) and closes
the database pool. `payment-service serve` runs it in one process or in several
(workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ...bootstrap import App, key_refresher
from ...gen.payment.v1 import events_pb2, events_pb2_grpc, payment_pb2_grpc, webhook_pb2, webhook_pb2_grpc
from ...gen.payment.v1 import payment_pb2 as pb
from ...observability import metrics
from ..webhooks import WebhookServicer
from .events_servicer import EventServicer
from .interceptor import ServerInterceptor
from .servicer import PaymentServicer

log = logging.getLogger(__name__)

PAYMENT_SERVICE = pb.DESCRIPTOR.services_by_name["PaymentService"].full_name
REVIEW_INTERVAL_SECONDS = 60
HEALTH_INTERVAL_SECONDS = 5.0


class Health:
    """Keeps grpc.health.v1 in step with the database, and answers HealthCheck."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.servicer = health.aio.HealthServicer()
        self.database_ok = False

    async def refresh(self) -> None:
        self.database_ok = await self.app.database_ok()
        status = health_pb2.HealthCheckResponse.SERVING if self.database_ok \
            else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", PAYMENT_SERVICE):
            await self.servicer.set(name, status)

    async def watch(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("health refresh failed")
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)

    async def report(self) -> pb.HealthCheckResponse:
        await self.refresh()
        components = {"database": "ok" if self.database_ok else "unreachable",
                      "cache": getattr(self.app.deps.cache, "state", "disabled")}
        status = pb.HealthCheckResponse.SERVING if self.database_ok else pb.HealthCheckResponse.NOT_SERVING
        return pb.HealthCheckResponse(status=status, version=self.app.settings.version, components=components)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()


# Above the edge's 16 KiB header limit (envoy/envoy.yaml) plus what Envoy adds, so a
# request the edge accepts never meets gRPC's 8 KiB soft / 16 KiB hard default here.
METADATA_LIMIT_BYTES = 32 * 1024


def create_server(app: App, address: str) -> tuple[grpc.aio.Server, int, Health]:
    server = grpc.aio.server(interceptors=[ServerInterceptor(), *app.interceptors],
                             options=[("grpc.max_metadata_size", METADATA_LIMIT_BYTES),
                                      ("grpc.absolute_max_metadata_size", METADATA_LIMIT_BYTES)])
    checker = Health(app)
    payment_pb2_grpc.add_PaymentServiceServicer_to_server(
        PaymentServicer(app.deps, app.keys, checker.report), server
    )
    webhook_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(app), server)
    events = EventServicer(app.deps, app.keys, app.settings.webhooks)
    events_pb2_grpc.add_EventServiceServicer_to_server(events, server)
    health_pb2_grpc.add_HealthServicer_to_server(checker.servicer, server)
    names = [PAYMENT_SERVICE, webhook_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name,
             events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
             health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {address}")
    return server, port, checker


async def run(app: App, address: str, *, ready: asyncio.Event | None = None) -> None:
    server, port, checker = create_server(app, address)
    refresher = key_refresher(app)
    if refresher is not None:  # the managed keys, loaded before the first call is accepted
        with contextlib.suppress(Exception):  # unreachable database: API_KEYS still work, the loop retries
            await refresher.refresh()
        keys = asyncio.create_task(refresher.run())
    await server.start()
    stop_metrics = _serve_metrics(app)
    watcher = asyncio.create_task(checker.watch())
    reviews = asyncio.create_task(_watch_reviews(app))
    log.info("payment service listening", extra={"address": address, "port": port})
    if ready is not None:
        ready.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing in-flight calls",
             extra={"grace_seconds": app.settings.shutdown_grace_seconds})
    await checker.shutting_down()
    await server.stop(app.settings.shutdown_grace_seconds)
    watcher.cancel()
    reviews.cancel()
    if refresher is not None:
        keys.cancel()
        await refresher.close()
    await app.close()
    stop_metrics()
    log.info("stopped")


async def _watch_reviews(app: App) -> None:
    """Keep the payment_requiring_review gauge (alert PaymentRequiresReview) in step with the database."""
    while True:
        try:
            async with app.deps.uow() as uow:
                metrics.REVIEW_REQUIRED.set(await uow.payments.count_requiring_review())
        except Exception as exc:  # the gauge must never take the server down
            log.warning("review gauge refresh failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(REVIEW_INTERVAL_SECONDS)


def _serve_metrics(app: App) -> Callable[[], None]:
    """Prometheus /metrics on METRICS_PORT (0: off); a busy port is logged, not fatal."""
    port = app.settings.metrics_port
    if port <= 0:
        return lambda: None
    try:
        return metrics.start_http_server(port, app.settings.version, app.settings.grpc_host)
    except OSError as exc:
        log.error("cannot serve metrics", extra={"port": port, "error": str(exc)})
        return lambda: None
