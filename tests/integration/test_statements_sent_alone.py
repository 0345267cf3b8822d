"""Statements sent alone (no BEGIN, no COMMIT: PostgreSQL runs each in a transaction of its own), on
real PostgreSQL: what their failures mean.

A statement sent inside a transaction and lost with its connection was rolled back; one sent alone
may have committed before its answer was lost. So the in-house ledger's authorization, sent alone,
is an unknown outcome when its connection goes mid-statement (the payment stays PROCESSING, and
reconciliation finds the ledger's truth), and unavailable (nothing recorded) only when PostgreSQL
answered it with an ERROR.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.adapters.pg import may_have_applied
from service.adapters.processors.inhouse.postgres_ledger import PostgresLedger
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments
from service.domain.errors import ProcessorUnavailable
from service.domain.processor import AuthorizeRequest
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.reconcile import reconcile

from .conftest import API_KEYS, auth

pytestmark = pytest.mark.integration

# The ledger's authorization (ADD_PAYMENT_ONCE) as pg_stat_activity shows it while it waits for a lock.
WAITING_AUTHORIZATION = text(
    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    " AND query LIKE '%INSERT INTO inhouse_payments%'")


async def waiting_authorization(engine: AsyncEngine) -> int:
    """The backend of the ledger authorization queued behind the test's table lock."""
    for _ in range(400):
        async with engine.connect() as connection:
            pids = (await connection.execute(WAITING_AUTHORIZATION)).scalars().all()
        if pids:
            assert len(pids) == 1, pids
            return pids[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the ledger's authorization never queued behind the lock")


async def ledger_rows(engine: AsyncEngine, payment_id: str) -> tuple[int, int]:
    async with engine.connect() as connection:
        charges = (await connection.execute(select(func.count()).where(
            inhouse_payments.c.payment_id == payment_id))).scalar()
        keys = (await connection.execute(select(func.count()).where(
            inhouse_idempotency_keys.c.key == f"{payment_id}:authorize"))).scalar()
    return charges, keys


@pytest.fixture
async def observer(postgres):
    engine = create_async_engine(postgres)
    yield engine
    await engine.dispose()


async def test_a_ledger_connection_killed_mid_authorization_leaves_the_payment_processing_for_reconcile(
        api, postgres, key, record, observer, audited):
    merchant = API_KEYS[key]
    async with observer.connect() as lock_holder:
        # Every insert into the ledger's payments now waits for this transaction.
        await lock_holder.execute(text("LOCK TABLE inhouse_payments IN SHARE MODE"))
        create = asyncio.ensure_future(api.stub.CreatePayment(
            pb.CreatePaymentRequest(amount=800, currency="USD", payment_method="pm_card_visa"),
            metadata=auth(key, idempotency_key="alone-" + uuid.uuid4().hex)))
        pid = await waiting_authorization(observer)
        async with observer.connect() as killer:
            assert (await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar()
        created = (await create).payment
        await lock_holder.rollback()
    # The authorization may have been recorded before its connection went (here it had not: it was
    # waiting): not UNAVAILABLE, not FAILED, but PROCESSING, the outcome unknown.
    assert created.status == pb.PROCESSING and not created.processor_reference
    before = await ledger_rows(observer, created.payment_id)
    report = await reconcile(api.app.deps, older_than=timedelta(0))
    async with api.app.deps.uow() as uow:
        settled = await uow.payments.get(merchant, created.payment_id)
    after = await ledger_rows(observer, created.payment_id)
    record("ledger connection killed mid-authorization", status_first=pb.PaymentStatus.Name(created.status),
           ledger_before=before, resent=report.resent, status_after=settled.status.value, ledger_after=after)
    assert before == (0, 0)  # the ledger's truth: nothing was recorded
    assert settled.status.value == "REQUIRES_CAPTURE" and settled.processor_reference
    assert after == (1, 1)  # authorized once, by reconciliation's re-send
    # `audited` then runs `payment-service audit` over this merchant: 0 drifts, the ledger included.


async def test_a_ledger_authorization_postgres_refused_with_an_error_recorded_nothing(postgres, observer):
    engine = create_async_engine(postgres, connect_args={"server_settings": {"lock_timeout": "300ms"}})
    payment_id = "pay_" + uuid.uuid4().hex
    try:
        async with observer.connect() as lock_holder:
            await lock_holder.execute(text("LOCK TABLE inhouse_payments IN SHARE MODE"))
            with pytest.raises(ProcessorUnavailable, match="nothing was recorded") as refused:
                await InHouseProcessor(PostgresLedger(engine)).authorize(
                    AuthorizeRequest(payment_id, "acct_alone", 500, "USD", "pm_card_visa", False),
                    idempotency_key=f"{payment_id}:authorize")
            await lock_holder.rollback()
    finally:
        await engine.dispose()
    assert not may_have_applied(refused.value.__cause__)  # lock_timeout: an ERROR, its transaction rolled back
    assert await ledger_rows(observer, payment_id) == (0, 0)
