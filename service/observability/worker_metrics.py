"""Metrics of a server run as several worker processes (`serve --workers N`).

Each worker keeps its own prometheus-client registry (the metrics of metrics.py, unchanged) and
serves it on a loopback port of its own (`serve_loopback`). The supervisor serves METRICS_PORT:
at every scrape it reads the workers' /metrics and adds them up (`WorkerSum`), so Prometheus
and the ServiceMonitor see one target per pod, as with one process. Counters and histograms
are summed; gauges are summed when they count something in use per process (connections checked
out, overflow), else the largest value is kept (the configured pool size, a flag like
payment_cache_circuit_open, the review count every worker reads from the same database, the API
keys loaded, a key's last use, the version info).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from . import metrics

log = logging.getLogger(__name__)

SUMMED_GAUGES = ("payment_db_pool_checked_out", "payment_db_pool_overflow")
SCRAPE_TIMEOUT_SECONDS = 2.0


def serve_loopback(version: str) -> tuple[int, Callable[[], None]]:
    """This worker's /metrics on 127.0.0.1 and a free port; returns the port and the stopper."""
    metrics.SERVICE_INFO.info({"version": version})
    metrics.disable_created_metrics()
    server, thread = start_http_server(0, addr="127.0.0.1")
    return server.server_port, metrics._stopper(server, thread)


class WorkerSum:
    """A collector that reads every worker's /metrics and yields their sum."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple, float]] = {}
        for port in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=SCRAPE_TIMEOUT_SECONDS) as reply:
                    text = reply.read().decode()
            except OSError as exc:  # a worker gone or stuck: its series are missing from this scrape
                log.warning("worker metrics unreadable", extra={"port": port, "error": type(exc).__name__})
                continue
            for family in text_string_to_metric_families(text):
                families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                merged = values.setdefault(family.name, {})
                keep_max = family.type == "gauge" and family.name not in SUMMED_GAUGES
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key in merged:
                        merged[key] = max(merged[key], sample.value) if keep_max else merged[key] + sample.value
                    else:
                        merged[key] = sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family


def serve_sum(port: int, worker_ports: list[int], address: str = "0.0.0.0") -> Callable[[], None]:
    """METRICS_PORT of the supervisor: the workers' metrics, summed at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerSum(worker_ports))
    server, thread = start_http_server(port, addr=address, registry=registry)
    log.info("metrics listening (summed over workers)", extra={"port": port, "workers": len(worker_ports)})
    return metrics._stopper(server, thread)

