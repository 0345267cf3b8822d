"""When to retry and how long to wait: exponential backoff with full jitter, inside the deadline.

A call is retried only when its status is UNAVAILABLE or ABORTED (`errors.RETRYABLE`), at
most `max_attempts` times in all. Before attempt n+1 the client sleeps a random time in
[0, min(max_backoff, initial_backoff * multiplier**(n-1))] ("full jitter": many clients
that failed together do not come back together). The client's deadline covers the whole
call, retries included: a sleep that would end past it is not taken, and the last error is
raised instead.
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a client retries UNAVAILABLE and ABORTED. `RetryPolicy(max_attempts=1)` never retries."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff or self.multiplier < 1:
            raise ValueError("need 0 <= initial_backoff <= max_backoff and multiplier >= 1")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered wait after failed attempt number `attempt`: uniform in [0, ceiling]."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))


NO_RETRY = RetryPolicy(max_attempts=1)
