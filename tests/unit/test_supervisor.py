"""The local stack's supervisor: restarts with backoff and says why (real child processes, a fake clock)."""

from __future__ import annotations

import io
import sys

import pytest

from devtools.devstack import Child
from devtools.supervisor import BACKOFF_MAX, STABLE_AFTER, Restarts, Supervisor, backoff, how_it_ended

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Stack:
    def __init__(self, *children: Child) -> None:
        self.children = list(children)
        self.postgres = None


def test_backoff_doubles_up_to_its_cap():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(50) == BACKOFF_MAX


def test_how_a_child_ended_is_said_in_words():
    assert how_it_ended(-9) == "was killed by SIGKILL" and how_it_ended(3) == "exited with code 3"


def test_a_crashing_child_is_restarted_after_a_growing_wait_and_the_reason_is_said(tmp_path):
    clock, out = Clock(), io.StringIO()
    child = Child("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"], log_dir=tmp_path)
    child.popen.wait()
    stack = Stack(child)
    supervisor = Supervisor(stack, out=out, clock=clock, log_path=tmp_path / "supervisor.log")
    clock.now = child.started
    supervisor.check()
    assert "flaky exited with code 3" in out.getvalue() and "restarting in 0.5 s" in out.getvalue()
    supervisor.check()
    assert stack.children[0] is child  # not yet: the wait is not over
    clock.now += 0.5
    supervisor.check()
    restarted = stack.children[0]
    assert restarted is not child and "flaky restarted" in out.getvalue()
    restarted.popen.wait()
    supervisor.check()
    assert "restarting in 1.0 s (2 in a row" in out.getvalue()  # it failed again at once: twice the wait
    assert "flaky restarted" in (tmp_path / "supervisor.log").read_text()


def test_a_child_that_ran_long_enough_starts_the_count_again(tmp_path):
    clock, out = Clock(), io.StringIO()
    child = Child("steady", [sys.executable, "-c", "pass"], log_dir=tmp_path)
    child.popen.wait()
    supervisor = Supervisor(Stack(child), out=out, clock=clock)
    supervisor.restarts["steady"] = Restarts(failures=5)  # it had crashed five times in a row before
    clock.now = child.started + STABLE_AFTER + 1  # this time it ran 31 s before it exited
    supervisor.check()
    assert "restarting in 0.5 s (1 in a row" in out.getvalue()
