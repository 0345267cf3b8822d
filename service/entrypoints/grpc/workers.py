"""`payment-service serve --workers N`: N server processes on one port, under one supervisor.

One Python process runs one event loop on one core; a create costs a few ms of CPU, so one
process cannot use a second core. The supervisor forks N workers before anything starts (no
gRPC, database or thread exists yet). Each worker is the ordinary server (server.run: its own
pool, health, graceful drain) bound to the same GRPC_PORT: gRPC sets SO_REUSEPORT, and the
kernel spreads new connections over the workers. Clients that hold one connection (Envoy holds
several: envoy/envoy.yaml caps the streams per upstream connection) stay on one worker.

* Metrics: each worker serves its own on a loopback port and tells the supervisor which; the
  supervisor serves METRICS_PORT with their sum (observability/worker_metrics.py).
* Health: every worker answers grpc.health.v1 from its own database check, so a probe learns
  the truth of the worker it reached. A worker that dies takes the supervisor down with it
  (the others drain first): the orchestrator, or `make run`, restarts the whole server rather
  than leaving a port that silently lost part of its capacity.
* SIGTERM / SIGINT on the supervisor: forwarded to every worker, each finishes its in-flight
  calls (SHUTDOWN_GRACE_SECONDS) as a single server does; then the supervisor exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable

from ...bootstrap import bootstrap
from ...config import Settings
from ...observability import worker_metrics
from ..event_loop import event_loop_factory
from .server import run

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_count(settings: Settings, requested: int | None) -> int:
    count = requested if requested is not None else settings.workers
    return count if count > 0 else usable_cpus()


def serve(settings: Settings, workers: int | None = None) -> int:
    """One server in this process, or (``workers`` > 1, default WORKERS) a supervisor of that many."""
    count = worker_count(settings, workers)
    if count > 1:
        return serve_workers(settings, count)
    app = bootstrap(settings)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run(app, f"{settings.grpc_host}:{settings.grpc_port}"))
    return 0


def _die_with(parent: int) -> None:
    """A supervisor killed outright (SIGKILL, OOM) takes its workers with it, as one process would go."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _worker(settings: Settings, index: int, report: multiprocessing.connection.Connection, parent: int) -> None:
    # Forked with SIGTERM/SIGINT blocked and the supervisor's handler: drop that handler, so a signal
    # that comes before the server's own handlers are set simply ends this worker.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with(parent)
    port, stop_metrics = worker_metrics.serve_loopback(settings.version)
    app = bootstrap(dataclasses.replace(settings, metrics_port=0))
    ready = asyncio.Event()

    async def main() -> None:
        async def announce() -> None:
            await ready.wait()
            report.send(port)
            report.close()

        announcing = asyncio.create_task(announce())
        await run(app, f"{settings.grpc_host}:{settings.grpc_port}", ready=ready)
        announcing.cancel()

    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(main())
    finally:
        stop_metrics()
    log.info("worker stopped", extra={"worker": index})


def serve_workers(settings: Settings, count: int) -> int:
    """Run ``count`` workers until SIGTERM/SIGINT (exit 0) or until one of them dies (exit 1)."""
    context = multiprocessing.get_context("fork")
    workers: list[tuple[multiprocessing.Process, multiprocessing.connection.Connection]] = []
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    for index in range(count):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(settings, index, send, os.getpid()),
                                  name=f"payment-worker-{index}")
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        send.close()
        workers.append((process, receive))
    if stopping:  # a signal came while a worker was being forked: that one has not been told yet
        stop(signal.SIGTERM, None)
    ports = [_port_of(process, receive) for process, receive in workers]
    stop_metrics = _serve_metrics(settings, [port for port in ports if port])
    log.info("payment service workers listening", extra={"workers": count, "port": settings.grpc_port,
                                                          "pids": [p.pid for p, _ in workers]})
    code = 0 if all(ports) or stopping else 1  # a stop asked for while starting is no failure
    if code:
        stop(signal.SIGTERM, None)
    sentinels = {process.sentinel: process for process, _ in workers}
    while sentinels:
        for sentinel in multiprocessing.connection.wait(list(sentinels), timeout=1.0):
            process = sentinels.pop(sentinel)
            process.join()
            if not stopping:
                log.error("worker died: stopping the server", extra={"pid": process.pid,
                                                                     "exitcode": process.exitcode})
                code = 1
                stop(signal.SIGTERM, None)
    stop_metrics()
    log.info("stopped")
    return code


def _port_of(process: multiprocessing.Process, receive: multiprocessing.connection.Connection) -> int:
    """The worker's metrics port, sent once its gRPC server is listening (0: it never got there)."""
    ready = multiprocessing.connection.wait([receive, process.sentinel], timeout=START_TIMEOUT_SECONDS)
    if receive in ready:
        with contextlib.suppress(EOFError):
            return receive.recv()
    if process.exitcode not in (None, -signal.SIGTERM):
        log.error("worker did not start", extra={"pid": process.pid, "exitcode": process.exitcode})
    return 0


def _serve_metrics(settings: Settings, ports: list[int]) -> Callable[[], None]:
    if settings.metrics_port <= 0:
        return lambda: None
    try:
        return worker_metrics.serve_sum(settings.metrics_port, ports, settings.grpc_host)
    except OSError as exc:
        log.error("cannot serve metrics", extra={"port": settings.metrics_port, "error": str(exc)})
        return lambda: None
