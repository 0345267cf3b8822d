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
import subprocess
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.devstack import pg_bin
from service.adapters.hot_statements import CLAIM_KEY, EARLIER, IF_CLAIMED, INSERT_PAYMENT, LOCK_KEY, claimed
from service.adapters.pg import may_have_applied
from service.adapters.processors.inhouse.postgres_ledger import PostgresLedger
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.adapters.repository import SqlUnitOfWork
from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments
from service.adapters.tables import payments as payments_table
from service.bootstrap import make_engine
from service.config import Settings
from service.domain import ids
from service.domain.errors import IdempotencyKeyInUse, IdempotencyKeyReused, ProcessorUnavailable
from service.domain.model import CaptureMethod, Payment
from service.domain.processor import AuthorizeRequest
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.ports import Claim, ClaimKind
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


# ---- a create's begin: the key's claim and the payment in one statement ---------------------------


@pytest.fixture
async def engine(postgres):
    engine = make_engine(Settings(database_url=postgres, db_pool_size=2))
    yield engine
    await engine.dispose()


def new_payment(merchant: str) -> Payment:
    return Payment.new(payment_id=ids.new_payment_id(), merchant_id=merchant, amount=1000, currency="USD",
                       capture_method=CaptureMethod.MANUAL, processor="inhouse", payment_method="pm_card_visa")


async def stored(engine: AsyncEngine, payment: Payment) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(payments_table).where(
            payments_table.c.payment_id == payment.payment_id))).scalar()


class Statements:
    """The statements (first word) and BEGINs an engine sends while it is listened to."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.seen = engine.sync_engine, []

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "begin", self._begin)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "begin", self._begin)

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(statement.split(None, 1)[0].upper())

    def _begin(self, conn) -> None:
        self.seen.append("BEGIN")


async def claim_and_add(engine: AsyncEngine, payment: Payment, key: str, fingerprint: str = "f" * 64) -> Claim:
    async with SqlUnitOfWork(engine) as uow:
        return await uow.claim_and_add(payment, key=key, fingerprint=fingerprint, lease_seconds=30)


async def test_a_new_key_and_its_payment_are_one_statement_sent_alone(engine):
    payment, key = new_payment("acct_alone_1"), "alone-" + uuid.uuid4().hex
    with Statements(engine) as seen:
        claim = await claim_and_add(engine, payment, key)
    assert claim.kind is ClaimKind.NEW and seen == ["WITH"]
    assert await stored(engine, payment) == 1


async def test_a_finished_key_is_answered_by_the_one_statement_and_writes_nothing(engine):
    first, key = new_payment("acct_alone_2"), "alone-" + uuid.uuid4().hex
    await claim_and_add(engine, first, key)
    async with SqlUnitOfWork(engine) as uow:
        await uow.idempotency.complete(first.merchant_id, key, {"payment_id": first.payment_id})
        await uow.commit()
    again, other = new_payment("acct_alone_2"), new_payment("acct_alone_2")
    with Statements(engine) as seen:
        replay = await claim_and_add(engine, again, key)
        with pytest.raises(IdempotencyKeyReused):
            await claim_and_add(engine, other, key, fingerprint="0" * 64)
    assert (replay.kind, replay.response) == (ClaimKind.REPLAY, {"payment_id": first.payment_id})
    assert seen == ["WITH", "WITH"]  # read from the statement's own snapshot, no locked path
    assert (await stored(engine, again), await stored(engine, other)) == (0, 0)


async def test_a_key_in_flight_takes_the_locked_path_and_is_aborted(engine):
    first, key = new_payment("acct_alone_3"), "alone-" + uuid.uuid4().hex
    await claim_and_add(engine, first, key)
    again = new_payment("acct_alone_3")
    with Statements(engine) as seen, pytest.raises(IdempotencyKeyInUse):
        await claim_and_add(engine, again, key)
    assert seen == ["WITH", "BEGIN", "INSERT", "SELECT"]  # the claim, then under the key's row lock
    assert await stored(engine, again) == 0


@pytest.mark.parametrize("first_ends", ["commit", "complete", "rollback"])
async def test_a_key_inserted_by_a_transaction_not_yet_committed_is_decided_after_it(engine, postgres, first_ends):
    # The one statement's INSERT ... ON CONFLICT waits for the first transaction; if that commits, the
    # key's row is newer than the statement's snapshot, so the statement cannot read it: the locked
    # path decides, as it did when the claim was a statement of its own.
    other = make_engine(Settings(database_url=postgres, db_pool_size=1))
    first, second, key = new_payment("acct_alone_4"), new_payment("acct_alone_4"), "alone-" + uuid.uuid4().hex
    try:
        with Statements(engine) as seen:
            async with SqlUnitOfWork(other) as uow:
                await uow.idempotency.claim(first.merchant_id, key, operation="create", fingerprint="f" * 64,
                                            payment_id=first.payment_id, refund_id="", lease_seconds=30)
                await uow.payments.add(first)
                waiting = asyncio.ensure_future(claim_and_add(engine, second, key))
                await asyncio.sleep(0.3)
                assert not waiting.done()  # queued behind the first transaction's key
                if first_ends == "complete":
                    await uow.idempotency.complete(first.merchant_id, key, {"payment_id": first.payment_id})
                if first_ends != "rollback":
                    await uow.commit()
            outcome = await asyncio.gather(waiting, return_exceptions=True)
    finally:
        await other.dispose()
    answer = outcome[0]
    if first_ends == "commit":
        assert isinstance(answer, IdempotencyKeyInUse), answer
        assert seen == ["WITH", "BEGIN", "INSERT", "SELECT"]
    elif first_ends == "complete":
        assert (answer.kind, answer.response) == (ClaimKind.REPLAY, {"payment_id": first.payment_id})
        assert seen == ["WITH", "BEGIN", "INSERT", "SELECT"]
    else:  # the first claim never happened: the one statement claimed the key
        assert answer.kind is ClaimKind.NEW and seen == ["WITH"]
    assert await stored(engine, second) == (1 if first_ends == "rollback" else 0)
    assert await stored(engine, first) == (0 if first_ends == "rollback" else 1)


async def test_the_claim_statement_prepares_on_the_migrated_schema(engine):
    sql = claimed((IF_CLAIMED[INSERT_PAYMENT],), True)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        prepared = await driver.prepare(sql)
    expected = len(CLAIM_KEY.names) + len(IF_CLAIMED[INSERT_PAYMENT].names) + 1
    assert len(prepared.get_parameters()) == expected
    assert [a.name for a in prepared.get_attributes()] == ["claimed", *EARLIER]


async def test_a_key_forgotten_between_the_locked_paths_claim_and_its_lock_is_claimed_again(engine, postgres):
    # The earlier request forgets its key (its processor was unavailable: nothing happened) after our
    # claim met the key and before our lock reads it: the lock finds no row, and the key is ours to
    # claim again (it used to be a TypeError on the missing row, an INTERNAL).
    first, again, key = new_payment("acct_alone_5"), new_payment("acct_alone_5"), "alone-" + uuid.uuid4().hex
    await claim_and_add(engine, first, key)  # in flight: the next claim takes the locked path
    url = make_url(postgres)
    forgotten: list[str] = []

    def forget_before_the_lock(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement == LOCK_KEY.sql and not forgotten:
            forgotten.append(key)  # from another connection, committed, before the lock is sent
            subprocess.run([pg_bin("psql"), "-q", "-h", url.host, "-p", str(url.port), "-U", url.username,
                            "-d", url.database, "-c", f"DELETE FROM idempotency_keys WHERE key = '{key}'"],
                           check=True, capture_output=True)

    event.listen(engine.sync_engine, "before_cursor_execute", forget_before_the_lock)
    try:
        with Statements(engine) as seen:
            claim = await claim_and_add(engine, again, key)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", forget_before_the_lock)
    assert forgotten == [key] and claim.kind is ClaimKind.NEW
    assert seen == ["WITH", "BEGIN", "INSERT", "SELECT", "INSERT", "WITH"]  # claimed again, then the payment
    assert await stored(engine, again) == 1
