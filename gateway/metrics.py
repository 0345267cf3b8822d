"""Prometheus metrics of the gateway, served on GRAPHQL_METRICS_PORT (9465).

    graphql_requests_total{operation, outcome}        counter
    graphql_request_duration_seconds{operation}       histogram

`operation` is the GraphQL operation name ("anonymous" without one). Names
are chosen by callers, so at most MAX_OPERATIONS distinct ones become labels;
the rest count as "other". `outcome` is ok, error (the API refused a call),
rejected (the request itself was refused: syntax, validation, a limit) or
internal.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

MAX_OPERATIONS = 100
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def outcome_of(status: int, errors: Iterable[Mapping[str, Any]]) -> str:
    """ok, error, rejected or internal, from the HTTP status and the response's errors."""
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    if status >= 500 or "INTERNAL" in codes:
        return "internal"
    if status >= 400:
        return "rejected"
    return "error" if codes else "ok"


class Metrics:
    """The gateway's request counter and latency histogram, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("graphql_requests", "GraphQL requests by operation name and outcome.",
                                ["operation", "outcome"], registry=self.registry)
        self.latency = Histogram("graphql_request_duration_seconds", "GraphQL request latency by operation name.",
                                 ["operation"], buckets=BUCKETS, registry=self.registry)
        self._operations: set[str] = set()
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None

    def label(self, operation_name: str | None) -> str:
        if not operation_name:
            return "anonymous"
        if not _NAME.fullmatch(operation_name):
            return "invalid"
        with self._lock:
            if operation_name not in self._operations and len(self._operations) >= MAX_OPERATIONS:
                return "other"
            self._operations.add(operation_name)
        return operation_name

    def observe(self, operation_name: str | None, outcome: str, seconds: float) -> None:
        operation = self.label(operation_name)
        self.requests.labels(operation=operation, outcome=outcome).inc()
        self.latency.labels(operation=operation).observe(seconds)

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics in a background thread; returns the bound port."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
