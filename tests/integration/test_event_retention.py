"""Event retention: `payment-service prune-events` (also run by the reconcile CronJob) deletes
events older than EVENT_RETENTION_DAYS and nothing else, on real PostgreSQL.

The test ages one payment's events by rewriting their timestamps (the service itself never
updates an event row); everything else in the shared database is younger than the cut-off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth
from .test_events_api import all_events, events_stub, pay

pytestmark = pytest.mark.integration


def prune_events(database_url: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "prune-events"],
                          env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **env},
                          capture_output=True, text=True, timeout=120)


async def age_events(database_url: str, payment_id: str, days: int) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            aged = await connection.execute(
                text("UPDATE events SET created_at = created_at - make_interval(days => :days) "
                     "WHERE payment_id = :payment_id"), {"days": days, "payment_id": payment_id})
            return aged.rowcount
    finally:
        await engine.dispose()


async def test_prune_deletes_only_events_past_the_retention(api, postgres, key, record):
    stub = events_stub(api.channel)
    old = await pay(api.stub, key)
    young = await pay(api.stub, key, refund=False)
    # 20 days old: inside the default 30 days, outside a 10-day retention.
    middle = await pay(api.stub, key, refund=False)
    assert await age_events(postgres, old, days=31) == 7
    assert await age_events(postgres, middle, days=20) == 4

    default = prune_events(postgres)
    assert default.returncode == 0, default.stderr
    first = json.loads(default.stdout)["events_pruned"]
    assert first["events"] >= 7, first  # the shared database may hold other tests' old events too
    remaining = {e.payment_id for e in await all_events(stub, key)}
    assert remaining == {young, middle}
    # A pruned payment's history is an empty list, not an error.
    assert await all_events(stub, key, payment_id=old) == []

    # The payment itself is untouched: events are the history, the payments table is the truth.
    got = (await api.stub.GetPayment(pb.GetPaymentRequest(payment_id=old), metadata=auth(key))).payment
    assert got.status == pb.PARTIALLY_REFUNDED and got.amount_refunded == 300

    shorter = prune_events(postgres, EVENT_RETENTION_DAYS="10")
    assert shorter.returncode == 0, shorter.stderr
    assert {e.payment_id for e in await all_events(stub, key)} == {young}
    record("prune-events: 31-day-old, 20-day-old and new payments' events",
           pruned_at_30_days=first["events"], kept_after_30_days=2,
           pruned_at_10_days=json.loads(shorter.stdout)["events_pruned"]["events"])


def test_a_retention_that_is_not_a_number_is_refused_naming_the_variable(postgres):
    refused = prune_events(postgres, EVENT_RETENTION_DAYS="thirty")
    assert refused.returncode != 0
    assert "EVENT_RETENTION_DAYS" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
