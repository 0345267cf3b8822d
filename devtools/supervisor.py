"""Keeps `make run`'s stack up: a child that exits is restarted, with backoff, and the reason is said.

Nothing that crashes takes the stack down: Redis (an optional cache; the service
carries on without it), grpcui, the payment service, Envoy and the rest are all
restarted the same way, and so is the private PostgreSQL cluster. The first
restart comes after BACKOFF_FIRST seconds; each further one in a row waits twice
as long, up to BACKOFF_MAX; a child that ran STABLE_AFTER seconds before it
exited starts the count again. Every exit and restart is one line on stderr
(and in .data/logs/supervisor.log) naming the component, how it ended (exit code
or signal), how long it ran and where its log is.

`check()` is one pass, so the caller decides when to stop calling it (a signal).
"""

from __future__ import annotations

import dataclasses
import pathlib
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0


def how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def backoff(failures: int) -> float:
    """Seconds before restart number `failures` in a row (1, 2, ...)."""
    return min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)


@dataclasses.dataclass
class Restarts:
    """One component's restart state."""

    failures: int = 0  # exits in a row without a stable run
    due: float | None = None  # when the pending restart is to happen
    count: int = 0  # restarts so far


class Supervisor:
    """Restarts the children of a LocalStack (and its PostgreSQL) when they exit."""

    def __init__(self, stack, *, log_path: pathlib.Path | None = None, out: TextIO = sys.stderr,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stack, self.out, self.clock = stack, out, clock
        self.log_path = log_path
        self.restarts: dict[str, Restarts] = {}

    def say(self, message: str) -> None:
        line = f"[supervisor] {message}"
        print(line, file=self.out, flush=True)
        if self.log_path is not None:
            with self.log_path.open("a") as log:
                log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")

    def _schedule(self, name: str, why: str, ran: float, log: object) -> None:
        state = self.restarts.setdefault(name, Restarts())
        state.failures = 1 if ran >= STABLE_AFTER else state.failures + 1
        delay = backoff(state.failures)
        state.due = self.clock() + delay
        self.say(f"{name} {why} after {ran:.1f} s; restarting in {delay:.1f} s"
                 f" ({state.failures} in a row; see {log})")

    def _due(self, name: str) -> bool:
        state = self.restarts.get(name)
        return state is not None and state.due is not None and self.clock() >= state.due

    def check(self) -> None:
        """One pass: note each component that ended, restart the ones whose wait is over."""
        self._check_postgres()
        for index, child in enumerate(self.stack.children):
            code = child.popen.poll()
            if code is None:
                continue
            state = self.restarts.get(child.name)
            if state is None or state.due is None:
                self._schedule(child.name, how_it_ended(code), self.clock() - child.started, child.log_path)
            elif self._due(child.name):
                state.due = None
                state.count += 1
                try:
                    self.stack.children[index] = child.respawn()
                except OSError as exc:  # e.g. its binary is gone: tried again after the next backoff
                    self._schedule(child.name, f"could not be started ({exc})", 0.0, child.log_path)
                    continue
                self.say(f"{child.name} restarted (pid {self.stack.children[index].popen.pid},"
                         f" restart #{state.count})")

    def _check_postgres(self) -> None:
        postgres = self.stack.postgres
        if postgres is None or postgres.running():
            return
        state = self.restarts.get("postgres")
        if state is None or state.due is None:
            self._schedule("postgres", "is not running", self.clock() - postgres.started,
                           postgres.log_dir / "postgres.log")
        elif self._due("postgres"):
            state.due = None
            state.count += 1
            try:
                postgres.start()
                self.say(f"postgres restarted (restart #{state.count})")
            except Exception as exc:  # tried again after the next backoff
                self._schedule("postgres", f"did not start ({exc})", 0.0, postgres.log_dir / "postgres.log")
