"""`payment-service deliver`: the webhook delivery worker (rules in service_layer/delivery.py).

Its own process (a Deployment in the chart; a child of `make run`), any number
of replicas: each runs DELIVER_CONCURRENCY delivery loops that claim work with
SELECT ... FOR UPDATE SKIP LOCKED, plus the event sequencer (one replica at a
time does its work) and a gauge of the oldest undelivered event. Prometheus
metrics on DELIVER_METRICS_PORT (9466). SIGTERM: finish the attempts in
flight, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time

import httpx
from google.protobuf.json_format import MessageToDict
from prometheus_client import Counter, Gauge, Histogram

from ..adapters import delivery_queue
from ..adapters.event_log import sequence
from ..bootstrap import make_engine
from ..config import Settings, WebhookSettings
from ..domain.model import utcnow
from ..observability import metrics
from ..service_layer.delivery import AttemptResult, decide
from ..service_layer.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from ..service_layer.webhook_urls import UrlRefused, check_url

log = logging.getLogger("service.deliver")
USER_AGENT = "payment-service-webhooks/1"

DELIVERIES = Counter("payment_webhook_deliveries_total", "Webhook delivery attempts by outcome "
                     "(delivered, retry, failed = given up, gone = 410 disabled the endpoint).", ["outcome"])
ATTEMPT_SECONDS = Histogram("payment_webhook_attempt_duration_seconds", "Duration of one webhook POST.",
                            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OLDEST_UNDELIVERED = Gauge("payment_webhook_oldest_undelivered_event_age_seconds",
                           "Age of the oldest event not yet delivered to an enabled endpoint (0: none).")


def event_body(event) -> bytes:
    """The event as JSON, exactly as GET /v1/events/{id} prints it."""
    from .grpc.events_servicer import event_to_pb

    as_dict = MessageToDict(event_to_pb(event), preserving_proto_field_name=True,
                            always_print_fields_with_no_presence=True)
    return json.dumps(as_dict, separators=(",", ":"), sort_keys=True).encode()


async def send(client: httpx.AsyncClient, claimed: delivery_queue.Claimed, settings: WebhookSettings) -> AttemptResult:
    started = time.perf_counter()
    try:
        await check_url(claimed.url, settings)  # again: DNS may point elsewhere since the endpoint was saved
    except UrlRefused as exc:
        return AttemptResult(0, 0.0, f"not sent: {exc.message}")
    body = event_body(claimed.event)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_ID_HEADER: claimed.event.event_id,
               SIGNATURE_HEADER: sign(body, int(time.time()), *claimed.secrets)}
    try:
        response = await client.post(claimed.url, content=body, headers=headers)
        error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return AttemptResult(response.status_code, (time.perf_counter() - started) * 1000, error)
    except httpx.TimeoutException:
        return AttemptResult(0, (time.perf_counter() - started) * 1000, f"timeout after {settings.timeout_seconds} s")
    except httpx.HTTPError as exc:
        return AttemptResult(0, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: connection failed")


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.webhooks = settings.webhooks
        self.engine = make_engine(settings)
        self.client = httpx.AsyncClient(timeout=self.webhooks.timeout_seconds, follow_redirects=False)
        self.stop = asyncio.Event()

    async def deliver_one(self) -> bool:
        """Claim and attempt one due delivery; False when none was due."""
        async with self.engine.connect() as connection, connection.begin():
            claimed = await delivery_queue.claim(connection, utcnow())
            if claimed is None:
                return False
            attempted_at = utcnow()
            result = await send(self.client, claimed, self.webhooks)
            decision = decide(result, claimed.attempts + 1, claimed.created_at, utcnow(), self.webhooks)
            await delivery_queue.record(connection, claimed, result, decision, attempted_at)
        DELIVERIES.labels(decision.outcome).inc()
        if result.status_code:
            ATTEMPT_SECONDS.observe(result.latency_ms / 1000)
        log.info("webhook attempt", extra={"event_id": claimed.event.event_id, "endpoint_id": claimed.endpoint_id,
                                           "status_code": result.status_code, "outcome": decision.outcome,
                                           "latency_ms": round(result.latency_ms, 1), "error": result.error})
        return True

    async def _every(self, seconds: float, step) -> None:
        while not self.stop.is_set():
            try:
                busy = await step()
            except Exception:
                log.warning("worker step failed; retrying", exc_info=True)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), seconds)

    async def _sequence(self) -> bool:
        return await sequence(self.engine) > 0

    async def _gauge(self) -> bool:
        OLDEST_UNDELIVERED.set(await delivery_queue.oldest_undelivered_age(self.engine, utcnow()))
        return False

    async def run(self) -> None:
        loops = [self._every(0.1, self._sequence), self._every(5.0, self._gauge),
                 *[self._every(0.2, self.deliver_one) for _ in range(self.webhooks.concurrency)]]
        try:
            await asyncio.gather(*loops)
        finally:
            await self.client.aclose()
            await self.engine.dispose()


def _serve_metrics(settings: Settings):
    """/metrics on DELIVER_METRICS_PORT (0: off); a busy port is logged, not fatal."""
    if settings.webhooks.metrics_port <= 0:
        return lambda: None
    try:
        return metrics.start_http_server(settings.webhooks.metrics_port, settings.version)
    except OSError as exc:
        log.error("cannot serve metrics", extra={"port": settings.webhooks.metrics_port, "error": str(exc)})
        return lambda: None


def main(settings: Settings) -> None:
    for outcome in ("delivered", "retry", "failed", "gone"):
        DELIVERIES.labels(outcome)
    stop_metrics = _serve_metrics(settings)

    async def run() -> None:
        worker = Worker(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, worker.stop.set)
        log.info("delivery worker started", extra={"concurrency": settings.webhooks.concurrency})
        await worker.run()

    try:
        asyncio.run(run())
    finally:
        stop_metrics()
