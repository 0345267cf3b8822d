"""Delivering events to webhook endpoints: the rules, independent of SQL and HTTP.

The worker (`payment-service deliver`, service.entrypoints.deliver) repeats:

1. claim one due delivery with SELECT ... FOR UPDATE SKIP LOCKED, in a
   transaction it keeps open while it sends (so no other worker can take the
   same delivery, and a worker that dies releases it at once); a delivery is
   due only when no earlier delivery of the same payment to the same endpoint
   is still pending, so event n+1 of a payment is never sent before event n
   was acknowledged or given up;
2. check the endpoint's URL again (DNS may have changed: SSRF), sign the body,
   POST it with a timeout;
3. record the attempt (status, latency, error) and the delivery's new state
   in the same transaction, and commit.

A crash between 2 and 3 loses nothing: the transaction rolls back, the
delivery is still pending, and it is sent again (the same event id, so the
receiver de-duplicates). Outcomes of one attempt:

| answer | outcome | then |
| --- | --- | --- |
| 2xx | delivered | done |
| 410 Gone | gone | the endpoint is disabled; the delivery is given up |
| other status, timeout, connection error, URL now refused | retry | again after backoff |
| any failure once the retry window (3 days) is over | failed | given up |

Backoff: base * 2^(attempts - 1), capped, times a random factor in [0.5, 1.5)
(jitter, so endpoints that failed together do not all return together).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

from .webhook_urls import WebhookSettings

DELIVERED, RETRY, FAILED, GONE = "delivered", "retry", "failed", "gone"


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    status_code: int  # 0: no HTTP answer
    latency_ms: float
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    outcome: str
    next_attempt_at: datetime | None = None  # for RETRY

    @property
    def finished(self) -> bool:
        return self.outcome != RETRY


def backoff(attempts: int, settings: WebhookSettings, rng: random.Random | None = None) -> timedelta:
    """The wait before attempt ``attempts + 1`` (``attempts`` >= 1 made so far)."""
    base = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * (0.5 + (rng or random).random()))


def decide(result: AttemptResult, attempts: int, first_queued: datetime, now: datetime,
           settings: WebhookSettings, rng: random.Random | None = None) -> Decision:
    """What an attempt's result means for its delivery (``attempts`` includes this one)."""
    if 200 <= result.status_code < 300:
        return Decision(DELIVERED)
    if result.status_code == 410:
        return Decision(GONE)
    next_at = now + backoff(attempts, settings, rng)
    if next_at - first_queued > timedelta(seconds=settings.retry_window_seconds):
        return Decision(FAILED)
    return Decision(RETRY, next_at)
