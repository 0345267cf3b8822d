"""Prometheus metrics of the payment service, served on METRICS_PORT (9464) at /metrics.

Names and labels are a contract with the dashboard and the alert rules under
observability/ (checked against a real Prometheus by `make check-observability`).
Every label has a bounded set of values: never a merchant id, API key, payment
id or card data (`key_id` is a stored API key's id, a handful per merchant).

    grpc_server_started_total{grpc_type,grpc_service,grpc_method}
    grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
    grpc_server_msg_received_total / grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
    grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}       (histogram)
        -- exactly the names and labels of go-grpc-prometheus, so its dashboards work
    payment_outcomes_total{operation,status,processor,currency}
    payment_processor_request_duration_seconds{processor,operation}         (histogram)
    payment_processor_errors_total{processor,operation,error}
    payment_cache_hits_total, payment_cache_misses_total
    payment_cache_errors_total{operation,reason}
    payment_cache_skipped_total{operation}, payment_cache_stale_writes_total
    payment_cache_circuit_open
    payment_db_pool_size, payment_db_pool_checked_out, payment_db_pool_overflow
    payment_webhook_events_total{type,outcome}
    payment_api_keys_loaded, payment_api_key_last_used_timestamp_seconds{key_id}
    payment_service_info{version}

Metric objects live in the process-wide default registry (the prometheus-client
idiom: one definition per process); nothing listens until `start_http_server`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client import start_http_server as _start_http_server

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

GRPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", GRPC_LABELS)
GRPC_HANDLED = Counter("grpc_server_handled_total", "RPCs completed on the server, regardless of success.",
                       (*GRPC_LABELS, "grpc_code"))
GRPC_RECEIVED = Counter("grpc_server_msg_received_total", "Stream messages received on the server.",
                        GRPC_LABELS)
GRPC_SENT = Counter("grpc_server_msg_sent_total", "Stream messages sent by the server.", GRPC_LABELS)
GRPC_SECONDS = Histogram("grpc_server_handling_seconds",
                         "Response latency (seconds) of gRPC calls handled by the server.", GRPC_LABELS)

PAYMENT_OUTCOMES = Counter(
    "payment_outcomes",
    "Payments returned by CreatePayment and ProcessPayment, by operation and resulting status.",
    ("operation", "status", "processor", "currency"),
)

PROCESSOR_SECONDS = Histogram(
    "payment_processor_request_duration_seconds", "Latency of calls to payment processors.",
    ("processor", "operation"),
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROCESSOR_ERRORS = Counter(
    "payment_processor_errors", "Processor calls that did not succeed, by kind of error.",
    ("processor", "operation", "error"),
)
PROCESSOR_ERROR_KINDS = ("declined", "invalid_request", "unavailable", "outcome_unknown", "unexpected")

CACHE_HITS = Counter("payment_cache_hits", "GetPayment reads answered by the Redis cache.")
CACHE_MISSES = Counter("payment_cache_misses", "GetPayment reads that went to PostgreSQL.")
CACHE_ERRORS = Counter("payment_cache_errors",
                       "Redis calls that failed (the request went on without the cache).",
                       ("operation", "reason"))
CACHE_SKIPPED = Counter("payment_cache_skipped", "Redis calls not made because the circuit breaker was open.",
                        ("operation",))
CACHE_STALE_WRITES = Counter("payment_cache_stale_writes",
                             "Cache writes refused: Redis already held a newer version of the payment.")
CACHE_CIRCUIT_OPEN = Gauge("payment_cache_circuit_open", "1 while the Redis circuit breaker is open, else 0.")
CACHE_OPERATIONS = ("get", "put", "changed")
CACHE_ERROR_REASONS = ("timeout", "connection", "error")

DB_POOL_SIZE = Gauge("payment_db_pool_size", "Configured size of the SQLAlchemy connection pool.")
DB_POOL_CHECKED_OUT = Gauge("payment_db_pool_checked_out", "PostgreSQL connections currently in use.")
DB_POOL_OVERFLOW = Gauge("payment_db_pool_overflow", "Connections open beyond the pool size (max_overflow).")

WEBHOOK_EVENTS = Counter(
    "payment_webhook_events",
    "Processor webhook events received, by event type and what the service did with them.",
    ("type", "outcome"),
)
WEBHOOK_OUTCOMES = ("processed", "ignored", "duplicate", "signature_invalid", "malformed", "failed")
# The type of an event whose signature or body could not be verified: never trust it.
WEBHOOK_UNVERIFIED = "unverified"
WEBHOOK_TYPE_PREFIXES = ("payment_intent.", "charge.", "refund.", "dispute.")

REVIEW_REQUIRED = Gauge(
    "payment_requiring_review",
    "Payments reconciliation marked for a person (no trace at the processor past its key retention).")

# API keys (service/adapters/api_key_store.py): labelled by key id, never by the key.
API_KEYS_LOADED = Gauge("payment_api_keys_loaded",
                        "Stored API keys this process accepts (neither revoked nor expired).")
API_KEY_LAST_USED = Gauge("payment_api_key_last_used_timestamp_seconds",
                          "When this process last saw a stored key used (written every refresh, not per request).",
                          ("key_id",))

SERVICE_INFO = Info("payment_service", "The payment service build.")


def record_webhook_event(event_type: str, outcome: str) -> None:
    """Count one webhook event: `outcome` is one of WEBHOOK_OUTCOMES.

    Types outside the payment families are counted as "other" and unknown
    outcomes as "unknown" (logged), so the labels stay bounded and counting
    never fails a request; pass WEBHOOK_UNVERIFIED when the signature failed.
    """
    if outcome not in WEBHOOK_OUTCOMES:
        log.warning("unknown webhook outcome counted as 'unknown'", extra={"outcome": outcome[:64]})
        outcome = "unknown"
    known = event_type == WEBHOOK_UNVERIFIED or event_type.startswith(WEBHOOK_TYPE_PREFIXES)
    label = event_type if known and len(event_type) <= 64 else "other"
    WEBHOOK_EVENTS.labels(type=label, outcome=outcome).inc()


def record_payment_outcome(operation: str, status: str, processor: str, currency: str) -> None:
    PAYMENT_OUTCOMES.labels(operation=operation, status=status, processor=processor or "unknown",
                            currency=currency or "unknown").inc()


def initialize_processor(name: str, operations: tuple[str, ...]) -> None:
    """Create every error series of a processor at 0, so rates exist before the first error."""
    for operation in operations:
        PROCESSOR_SECONDS.labels(processor=name, operation=operation)
        for kind in PROCESSOR_ERROR_KINDS:
            PROCESSOR_ERRORS.labels(processor=name, operation=operation, error=kind)


def initialize_cache() -> None:
    for operation in CACHE_OPERATIONS:
        CACHE_SKIPPED.labels(operation=operation)
        for reason in CACHE_ERROR_REASONS:
            CACHE_ERRORS.labels(operation=operation, reason=reason)


def initialize_webhooks() -> None:
    """The signature-failure series exist from the start (the alert rule reads them)."""
    for outcome in ("signature_invalid", "malformed"):
        WEBHOOK_EVENTS.labels(type=WEBHOOK_UNVERIFIED, outcome=outcome)


def initialize_grpc(methods: list[tuple[str, str, str]]) -> None:
    """Pre-create the series of every (grpc_type, service, method), as go-grpc-prometheus does."""
    for grpc_type, service, method in methods:
        labels = {"grpc_type": grpc_type, "grpc_service": service, "grpc_method": method}
        GRPC_STARTED.labels(**labels)
        GRPC_HANDLED.labels(**labels, grpc_code="OK")
        GRPC_SECONDS.labels(**labels)


def watch_pool(engine: AsyncEngine) -> None:
    """Point the pool gauges at this engine's pool (read at scrape time)."""
    pool: Any = engine.sync_engine.pool
    _gauge_from(DB_POOL_SIZE, pool, "size")
    _gauge_from(DB_POOL_CHECKED_OUT, pool, "checkedout")
    _gauge_from(DB_POOL_OVERFLOW, pool, "overflow")


def _gauge_from(gauge: Gauge, pool: Any, attribute: str) -> None:
    read: Callable[[], int] | None = getattr(pool, attribute, None)
    if read is not None:
        gauge.set_function(lambda: max(float(read()), 0.0))


def start_http_server(port: int, version: str, address: str = "0.0.0.0") -> Callable[[], None]:
    """Serve /metrics on ``port``; returns the function that stops the server."""
    SERVICE_INFO.info({"version": version})
    disable_created_metrics()  # no *_created series: they double the series count for nothing
    server, thread = _start_http_server(port, addr=address)
    log.info("metrics listening", extra={"port": port, "path": "/metrics"})
    return _stopper(server, thread)


def _stopper(server: Any, thread: threading.Thread) -> Callable[[], None]:
    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
